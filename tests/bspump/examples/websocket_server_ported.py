#!/usr/bin/env python3
# websocket_server.py with the one-line change of docs/migrating-from-bspump.md (6): the
# WebSocketSource listens by itself instead of through ASAB's web container.
import pumpcore_bspump as bspump


class SamplePipeline(bspump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)

        self.build(
            bspump.http.WebSocketSource(app, self, config={"address": "127.0.0.1:18081", "path": "/bspump/ws"}),
            bspump.common.PPrintSink(app, self)
        )


if __name__ == '__main__':
    app = bspump.BSPumpApplication()
    svc = app.get_service("bspump.PumpService")

    # Construct and register Pipeline
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)

    app.run()
