#!/usr/bin/env python3
import aiohttp
import pumpcore_bspump as bspump
import pandas as pd

query = """
query {
    crafts {
      source
      duration
      rewardItems {
        quantity
        item {
          shortName
          lastLowPrice
        }
      }
      requiredItems {
        quantity
        item {
          shortName
          lastLowPrice
        }
      }
    }
}
"""


class IOHTTPSource(bspump.TriggerSource):

    def __init__(self, app, pipeline, choice=None, id=None, config=None):
        super().__init__(app, pipeline, id=id, config=config)

    async def cycle(self):
        async with aiohttp.ClientSession() as session:
            async with session.post('http://127.0.0.1:18080/graphql', json={'query': query}) as response:
                if response.status == 200:
                    event = await response.json()
                else:
                    raise Exception("Query failed to run by returning code of {}. {}".format(response.status, query))
                await self.process(event)


class SamplePipeline(bspump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)
        self.build(
            IOHTTPSource(app, self).on(bspump.trigger.PeriodicTrigger(app, 5)),
            bspump.common.PPrintProcessor(app,self),
            bspump.common.NullSink(app, self),
        )


# The tutorial leaves out the application; this is the seed's usual one.
if __name__ == '__main__':
    app = bspump.BSPumpApplication()
    svc = app.get_service("bspump.PumpService")
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)
    app.run()
