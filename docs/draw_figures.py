"""Draws the README's picture: DARTS and NAT's published transformation of it (NAT_DARTS, under
the rule `nat` that the quickstart uses), with natjax's own drawing code.

From the repository root:  python docs/draw_figures.py  (writes docs/nat_darts.png)

The drawing is rendered as `natjax.io.viz.draw_transformation` renders any PNG, then scaled to
half its size and reduced to a 128-colour palette with Pillow, so that the file stays small.
"""

import io
import os
import sys
import tempfile

from PIL import Image

from natjax.core import genotypes
from natjax.io import viz

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nat_darts.png")


def main() -> None:
  with tempfile.TemporaryDirectory() as tmp:
    full = viz.draw_transformation(genotypes.DARTS, genotypes.NAT_DARTS,
                                   os.path.join(tmp, "full.png"),
                                   title="DARTS (left) and NAT_DARTS, NAT's published"
                                   " transformation of it (right)")
    image = Image.open(full).convert("RGB")
  image = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
  buffer = io.BytesIO()
  image.quantize(colors=128, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG",
                                                                    optimize=True)
  with open(OUT, "wb") as f:
    f.write(buffer.getvalue())
  print(f"wrote {OUT} ({len(buffer.getvalue()) / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
  main()
