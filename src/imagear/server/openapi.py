"""What `imagear serve` tells the world about itself: ``POST /animate`` in its OpenAPI document
(the multipart body it reads by hand, the MP4 it answers), and reasons a model cannot run that
are safe to send to a remote client.

``/animate`` reads its body itself (streamed, size-capped, with a read deadline: see
:mod:`imagear.server.upload`), so FastAPI cannot infer it; :data:`ANIMATE_DOC` declares it, so
clients and property-based tests (schemathesis) see the real contract.
"""

from __future__ import annotations

import re
from typing import Any

_INT = {"type": "integer"}
_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "type": {"type": "string"}},
    "required": ["error", "type"],
}
_X_HEADERS = {
    name: {"description": what, "schema": {"type": kind}}
    for name, what, kind in (
        ("X-Generation-Secs", "Seconds the generation took (2 decimals)", "number"),
        ("X-Model", "The model that made the clip", "string"),
        ("X-Frames", "Frames in the clip", "integer"),
        ("X-Fps", "Frames per second", "number"),
        ("X-Seed", "The seed that made the clip (a drawn one when 0 was sent)", "integer"),
        ("X-Motion-Bucket", "SVD's motion bucket (models that have one)", "integer"),
    )
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


ANIMATE_DOC: dict[str, Any] = {
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {
                            "image": {
                                "type": "string",
                                "format": "binary",
                                "description": "The image (its content decides, not its label)",
                            },
                            "model": {"type": "string", "description": "Default: the server's"},
                            "num_frames": _INT,
                            "fps": _INT,
                            "motion_bucket_id": _INT,
                            "noise_aug_strength": {"type": "number"},
                            "seed": {**_INT, "description": "0 = random"},
                            "prompt": {"type": "string"},
                            "width": _INT,
                            "height": _INT,
                        },
                    },
                    "encoding": {"image": {"contentType": "image/*"}},
                }
            },
        }
    },
    "responses": {
        200: {
            "description": "The clip: an MP4 (H.264, yuv420p, +faststart)",
            "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
            "headers": _X_HEADERS,
        },
        400: _error("Unknown model, or one this server cannot run; malformed multipart body"),
        401: _error("A bearer token is required, or the one sent is wrong"),
        408: _error("The upload did not arrive in time (the connection is closed)"),
        413: _error("The upload or the image's pixel count is over the server's limit"),
        415: _error("Not multipart/form-data, or the file is not an image"),
        422: _error("A parameter the model refuses, or a form field no model knows"),
        503: _error("Busy: every queue slot is taken (see Retry-After)"),
        507: _error("Out of GPU memory"),
    },
}

_PATH = re.compile(r"(?<![\w:/.])/[^\s,;()'\"`]+")


def public_reason(why: str | None) -> str | None:
    """Why a model cannot run, fit for a remote client: the folders this host looked in and
    other local paths stay in the server's log."""
    if why is None:
        return None
    head, looked, _ = why.partition("; looked in ")
    if looked:
        head += " (the server's log names the folders it looked in)."
    return _PATH.sub("<path>", head)


__all__ = ["ANIMATE_DOC", "public_reason"]
