"""A VOS agent in Python: consumes {agent_id}_queue, continues the gateway's trace, answers on
vos.results. The seed's VOSAgent shape, with pika (blocking, manual ack, publisher confirms)
and the OpenTelemetry SDK (OTLP/HTTP, configured by the standard OTEL_* variables).

    python agent.py --agent-id weather        # AMQP_URL, OTEL_EXPORTER_OTLP_ENDPOINT, ...
"""
import argparse
import json
import logging
import os
import signal
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timezone

import pika
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

RESULTS_QUEUE = "vos.results"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2f"
SEEN_MAX = 10_000  # message ids remembered for dropping duplicates (delivery is at least once)
log = logging.getLogger("vos.agent")
propagator = TraceContextTextMapPropagator()


class HeaderGetter:
    """Reads W3C headers from an AMQP header table, whose strings may arrive as str or bytes."""

    def get(self, carrier, key):
        value = (carrier or {}).get(key)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return [value] if isinstance(value, str) else None

    def keys(self, carrier):
        return list(carrier or {})


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def setup_tracing() -> TracerProvider:
    """OTLP/HTTP from OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT etc.; service.name from OTEL_SERVICE_NAME."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "python-agent")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


class VOSAgent:
    def __init__(self, agent_id: str, amqp_url: str = DEFAULT_AMQP_URL, prefetch: int = 10):
        self.agent_id = agent_id
        self.queue = f"{agent_id}_queue"
        self.amqp_url = amqp_url
        self.prefetch = prefetch
        self.tracer = trace.get_tracer("vos.python_agent")
        self.seen = OrderedDict()
        self.stopping = False

    # -- the work: override handle() for a real agent ---------------------------------------
    def handle(self, notification: dict, tools: list):
        kind, payload = notification["notification_type"], notification.get("payload") or {}
        if kind == "echo":
            return payload
        if kind == "weather":
            return {"weather": self.call_tool("get_weather", tools, get_weather, str(payload.get("city", "Paris")))}
        if kind == "fail":
            raise RuntimeError("asked to fail")
        return {"handled": kind}

    def call_tool(self, name: str, tools: list, fn, *args):
        """Runs a tool in an `execute_tool {name}` span and records it in the result's `tools`."""
        start, status = time.perf_counter(), "ok"
        with self.tracer.start_as_current_span(f"execute_tool {name}", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}) as span:
            try:
                return fn(*args)
            except Exception as error:
                status = "error"
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                raise
            finally:
                tools.append({"name": name, "status": status,
                              "duration_ms": round((time.perf_counter() - start) * 1000, 3)})

    # -- the AMQP side -----------------------------------------------------------------------
    def run(self):
        self.connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        self.channel = self.connection.channel()
        try:
            self.channel.queue_declare(self.queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # 404: not there yet (closes the channel)
            self.channel = self.connection.channel()
            self.channel.queue_declare(self.queue, durable=True)
        self.channel.confirm_delivery()
        self.channel.basic_qos(prefetch_count=self.prefetch)
        self.channel.basic_consume(self.queue, self.on_message, auto_ack=False)
        log.info("consuming %s", self.queue)
        while not self.stopping:
            self.connection.process_data_events(time_limit=0.5)
        self.connection.close()
        log.info("stopped")

    def stop(self, *_):
        self.stopping = True

    def on_message(self, channel, method, props, body):
        message_id = props.message_id
        if message_id and message_id in self.seen:
            log.info("duplicate %s dropped", message_id)
            channel.basic_ack(method.delivery_tag)
            return
        parent = propagator.extract(props.headers or {}, getter=HeaderGetter())
        parent_span = trace.get_current_span(parent).get_span_context()
        links = [Link(parent_span)] if parent_span.is_valid else []
        attributes = {
            "messaging.system": "rabbitmq", "messaging.operation.type": "process",
            "messaging.operation.name": "process", "messaging.destination.name": self.queue,
            "messaging.rabbitmq.message.delivery_tag": method.delivery_tag,
        }
        if message_id:
            attributes["messaging.message.id"] = message_id
        if props.correlation_id:
            attributes["messaging.message.conversation_id"] = props.correlation_id
        with self.tracer.start_as_current_span(f"process {self.queue}", context=parent,
                                               kind=SpanKind.CONSUMER, links=links,
                                               attributes=attributes) as span:
            answer = self.process(body, span)
            headers = {}
            propagator.inject(headers)  # the consumer span's context: the gateway continues it
            if answer is None:  # unreadable: nothing to answer; the Rust runtime would dead-letter
                channel.basic_ack(method.delivery_tag)
                return
            try:
                channel.basic_publish(
                    "", props.reply_to or RESULTS_QUEUE, json.dumps(answer).encode(),
                    pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                         correlation_id=props.correlation_id,
                                         message_id=str(uuid.uuid4()), headers=headers),
                    mandatory=True)
            except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as error:
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                log.warning("result for %s not confirmed (%s); requeued", message_id, type(error).__name__)
                self.connection.sleep(1.0)
                channel.basic_nack(method.delivery_tag, requeue=True)
                return
        channel.basic_ack(method.delivery_tag)  # only once the result is confirmed
        if message_id:
            self.seen[message_id] = None
            while len(self.seen) > SEEN_MAX:
                self.seen.popitem(last=False)

    def process(self, body: bytes, span):
        """Runs the handler; returns the result document (or None for an unreadable body)."""
        try:
            notification = json.loads(body)
            notification_id = notification["notification_id"]
        except (ValueError, KeyError, TypeError) as error:
            span.set_status(Status(StatusCode.ERROR, "unreadable notification"))
            span.set_attribute("error.type", type(error).__name__)
            log.warning("unreadable notification dropped (%d bytes)", len(body))
            return None
        span.set_attribute("vos.notification_id", notification_id)
        started, tools = now(), []
        answer = {"notification_id": notification_id, "agent_id": self.agent_id}
        try:
            result = self.handle(notification, tools)
            answer.update(status="completed", result=result if isinstance(result, dict) else {"value": result})
        except Exception as error:  # a failed result; retries and a DLQ are the Rust runtime's
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            answer.update(status="failed", error=str(error) or type(error).__name__)
        answer.update(tools=tools, llm=[], started_at=started, finished_at=now())
        log.info("notification %s %s (%s, %d tools)", notification_id, answer["status"],
                 notification["notification_type"], len(tools))
        return answer


def get_weather(city: str) -> dict:
    """A toy tool: deterministic, no network."""
    time.sleep(0.01)
    return {"city": city, "temperature_c": 18 + len(city) % 10, "conditions": "partly cloudy"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent-id", required=True)
    parser.add_argument("--prefetch", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    provider = setup_tracing()
    agent = VOSAgent(args.agent_id, os.environ.get("AMQP_URL", DEFAULT_AMQP_URL), args.prefetch)
    signal.signal(signal.SIGTERM, agent.stop)
    signal.signal(signal.SIGINT, agent.stop)
    try:
        agent.run()
    finally:
        provider.shutdown()  # flushes the spans still in the batch


if __name__ == "__main__":
    main()
