"""Local stand-ins for the public APIs the seed's tutorials call, with the same JSON shapes:
CoinDesk's current price, OpenWeather's current weather, Fortnite Tracker's store and the
Tarkov GraphQL endpoint. One ``ThreadingHTTPServer`` on 127.0.0.1, a free port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "secret-key"

COINDESK: dict[str, Any] = {
    "time": {
        "updated": "Jan 31, 2022 15:47:00 UTC",
        "updatedISO": "2022-01-31T15:47:00+00:00",
        "updateduk": "Jan 31, 2022 at 15:47 GMT",
    },
    "disclaimer": "This data was produced from the CoinDesk Bitcoin Price Index (USD). Non-USD "
    "currency data converted using hourly conversion rate from openexchangerates.org",
    "chartName": "Bitcoin",
    "bpi": {
        "USD": {
            "code": "USD",
            "symbol": "&#36;",
            "rate": "37,789.6250",
            "description": "United States Dollar",
            "rate_float": 37789.625,
        },
        "GBP": {
            "code": "GBP",
            "symbol": "&pound;",
            "rate": "28,145.2970",
            "description": "British Pound Sterling",
            "rate_float": 28145.297,
        },
        "EUR": {
            "code": "EUR",
            "symbol": "&euro;",
            "rate": "33,772.9280",
            "description": "Euro",
            "rate_float": 33772.928,
        },
    },
}

CITIES = {"London": (51.5085, -0.1257, 8.91), "New York": (40.7143, -74.006, -1.13),
          "Berlin": (52.5244, 13.4105, 6.01)}  # fmt: skip


def weather(city: str) -> dict[str, Any]:
    """OpenWeather's current-weather document for ``city``."""
    lat, lon, temp = CITIES[city]
    return {
        "coord": {"lon": lon, "lat": lat},
        "weather": [{"id": 802, "main": "Clouds", "description": "scattered clouds"}],
        "main": {"temp": temp, "pressure": 1030, "humidity": 71},
        "name": city,
        "cod": 200,
    }


STORE = [
    {"imageUrl": "https://trackercdn.com/legacycdn/fortnite/8BD06909_large.png",
     "manifestId": 6909, "name": "Marsh Walk", "rarity": "Sturdy",
     "storeCategory": "BRSpecialFeatured", "vBucks": 500},
    {"imageUrl": "https://trackercdn.com/legacycdn/fortnite/275915210_large.png",
     "manifestId": 15210, "name": "Arcane Vi", "rarity": "Epic",
     "storeCategory": "BRSpecialFeatured", "vBucks": 0},
]  # fmt: skip

CRAFTS = {
    "data": {
        "crafts": [
            {
                "source": "Workbench level 3",
                "duration": 60000,
                "requiredItems": [
                    {"item": {"lastLowPrice": 39000, "shortName": "Eagle"}, "quantity": 2},
                    {"item": {"lastLowPrice": 15000, "shortName": "Kite"}, "quantity": 2},
                ],
                "rewardItems": [
                    {"item": {"lastLowPrice": None, "shortName": "BP"}, "quantity": 120}
                ],
            }
        ]
    }
}


def body_of(path: str, headers: Any) -> tuple[int, bytes]:
    """The status and body the public API answers ``path`` with."""
    url = urlsplit(path)
    query = parse_qs(url.query)
    if url.path == "/v1/bpi/currentprice.json":
        return 200, json.dumps(COINDESK).encode()
    if url.path == "/data/2.5/weather":
        if query.get("appid") != [API_KEY]:
            return 401, b'{"cod": 401, "message": "Invalid API key."}'
        return 200, json.dumps(weather(query["q"][0])).encode()
    if url.path == "/v1/store":
        if headers.get("TRN-Api-Key") != API_KEY:
            return 401, b'{"message": "Invalid authentication credentials"}'
        return 200, json.dumps(STORE, indent=2).replace("\n", "\r\n").encode()
    return 404, b"{}"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(*body_of(self.path, self.headers))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/graphql" and "crafts" in request.get("query", ""):
            self._answer(200, json.dumps(CRAFTS).encode())
        else:
            self._answer(400, b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the pump's output, not the server's."""


@contextmanager
def public_apis() -> Iterator[str]:
    """Serve the stand-ins; yields ``"127.0.0.1:PORT"``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
