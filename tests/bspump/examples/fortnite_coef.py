#!/usr/bin/env python3
import pumpcore_bspump as bspump
import pandas as pd


class JSONtoCSV(bspump.Processor):
    def process(self, context, event):
        df = pd.read_json(event)
        print(df)
        event = df.to_csv('data.csv', index=False)
        return event


class AddRarityPriceCoef(bspump.Processor):
    def process(self, context, event):
        df = pd.read_json(event)

        coefs = []
        for row in df.itertuples():
            if row.vBucks == 0:
                price = 1
            else:
                price = row.vBucks

            if row.rarity.lower() == 'handmade':
                coefs.append((1/price)*100)
            elif row.rarity.lower() == 'uncommon':
                coefs.append((2/price)*100)
            elif row.rarity.lower() == 'rare':
                coefs.append((3/price)*100)
            elif row.rarity.lower() == 'epic':
                coefs.append((4/price)*100)
            elif row.rarity.lower() == 'legendary':
                coefs.append((5/price)*100)
            elif row.rarity.lower() == 'mythic':
                coefs.append((6/price)*100)
            elif row.rarity.lower() == 'exotic':
                coefs.append((7/price)*100)
            else:
                coefs.append(1)

        df['Coef'] = coefs
        event = df.to_json()
        return event


class SamplePipeline(bspump.Pipeline):

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)

        self.build(
            bspump.http.HTTPClientSource(app, self,
                                         config={'url': self.Config['url']},
                                         headers={'TRN-Api-Key': self.Config['api_key']}).on(bspump.trigger.PeriodicTrigger(app, 2)),
            # Add price over rarity coefficient to dataframe
            AddRarityPriceCoef(app, self),
            # Converts incoming json event to CSV data
            JSONtoCSV(app, self),
            # We can also push datas to ES or Kafka
            bspump.common.NullSink(app, self),
        )


if __name__ == '__main__':
    app = bspump.BSPumpApplication()
    svc = app.get_service("bspump.PumpService")

    # Construct and register Pipeline
    pl = SamplePipeline(app, 'SamplePipeline')
    svc.add_pipeline(pl)

    app.run()
