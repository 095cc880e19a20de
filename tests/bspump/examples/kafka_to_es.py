import pumpcore_bspump as bspump


class KafkaToESPipeline(bspump.Pipeline):
    """BSPump's main job: messages from a Kafka topic, enriched, into an Elasticsearch index."""

    def __init__(self, app, pipeline_id):
        super().__init__(app, pipeline_id)
        self.build(
            bspump.kafka.KafkaSource(app, self, "KafkaConnection"),
            bspump.common.BytesToStringParser(app, self),
            bspump.common.StdJsonToDictParser(app, self),
            EnrichProcessor(app, self),
            bspump.elasticsearch.ElasticSearchSink(app, self, "ESConnection"),
        )


class EnrichProcessor(bspump.Processor):
    def process(self, context, event):
        event["jpy"] = event["usd"] * float(self.Config["rate"])
        event["partition"] = context["kafka_partition"]
        return event


if __name__ == '__main__':
    app = bspump.BSPumpApplication()
    svc = app.get_service("bspump.PumpService")

    svc.add_connection(bspump.kafka.KafkaConnection(app, "KafkaConnection"))
    svc.add_connection(bspump.elasticsearch.ElasticSearchConnection(app, "ESConnection"))

    svc.add_pipeline(KafkaToESPipeline(app, "KafkaToESPipeline"))
    app.run()
