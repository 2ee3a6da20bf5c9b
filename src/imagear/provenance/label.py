"""The optional visible label (``ar_visible_label``, off by default): the words of
``ar_visible_label_text`` burned into every frame of a clip made by an AI model, for sites that
publish clips outside a viewer that shows the disclosure. Ken Burns clips are never labelled.

The clip is decoded (PyAV), each frame gets a dark band with the text in its lower left corner
(PIL), and it is encoded again as imagear encodes clips (:func:`imagear.media.mp4.write_mp4`).
PyAV and PIL are imported inside the function.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from imagear.errors import MediaError


def burn_label(src: Path, dest: Path, words: str, fps: float) -> int:
    """Write ``src`` to ``dest`` with ``words`` on every frame; the number of frames."""
    import av
    from PIL import Image, ImageDraw, ImageFont

    from imagear.media.mp4 import write_mp4

    def frames(container: av.container.InputContainer) -> Iterator[Image.Image]:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont | None = None
        for frame in container.decode(video=0):
            image = frame.to_image().convert("RGB")
            w, h = image.size
            if font is None:
                font = ImageFont.load_default(size=max(8, h // 18))
            draw = ImageDraw.Draw(image, "RGBA")
            left, top, right, bottom = draw.textbbox((0, 0), words, font=font)
            pad = max(2, h // 60)
            box = (0, h - (bottom - top) - 3 * pad, right - left + 2 * pad, h)
            draw.rectangle(box, fill=(0, 0, 0, 170))
            draw.text((pad - left, box[1] + pad - top), words, font=font, fill=(255, 255, 255))
            yield image

    try:
        with av.open(str(src)) as container:
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            return write_mp4(frames(container), max(1, round(fps)), dest, width, height)
    except av.FFmpegError as exc:
        raise MediaError(f"Cannot burn the visible label into {src.name}: {exc}.") from exc


__all__ = ["burn_label"]
