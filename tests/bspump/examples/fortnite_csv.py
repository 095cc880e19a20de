import pumpcore_bspump as bspump
import pandas as pd


class JSONtoCSV(bspump.Processor):
    def process(self, context, event):
        df = pd.read_json(event)
        event = df.to_csv('data.csv', index=False)
        return event


class SamplePipeline(bspump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)

        self.build(
            bspump.http.HTTPClientSource(app, self,
                                         config={'url': self.Config['url']},
                                         headers={'TRN-Api-Key': self.Config['api_key']}).on(bspump.trigger.PeriodicTrigger(app, 2)),
            JSONtoCSV(app, self),
            bspump.common.NullSink(app, self),
        )


if __name__ == '__main__':
    app = bspump.BSPumpApplication()
    svc = app.get_service("bspump.PumpService")

    # Construct and register Pipeline
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)

    app.run()
