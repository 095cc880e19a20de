#!/usr/bin/env python3
import pumpcore_bspump as bspump


class SamplePipeline(bspump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)

        self.build(
            bspump.http.WebSocketSource(app, self),
            bspump.common.PPrintSink(app, self)
        )


if __name__ == '__main__':
    app = bspump.BSPumpApplication(web_listen="127.0.0.1:18081") #set web_listen variable to the address you want
    svc = app.get_service("bspump.PumpService")

    # Construct and register Pipeline
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)

    #you have to use add_get method to set up address using the handler.
    app.WebContainer.WebApp.router.add_get('/bspump/ws', pl.WebSocketSource.handler)

    app.run()
