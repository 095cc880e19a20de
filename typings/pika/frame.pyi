from typing import Any

class Method:
    channel_number: int
    method: Any
