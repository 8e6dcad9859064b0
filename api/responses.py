"""A hot read's answer as JSON it serialises itself.

FastAPI validates what an endpoint returns against its ``response_model`` and then serialises it; a model
the endpoint built is already valid, so the second pass is pure cost on a read served thousands of times
a second. The endpoint keeps ``response_model=`` (the OpenAPI document does not change) and returns
``model_json(model)``; FastAPI sends a ``Response`` as it is.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response


def model_json(model: BaseModel) -> Response:
    """``model`` as FastAPI would send it for a ``response_model`` of its own type (JSON mode, by alias)."""
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")
