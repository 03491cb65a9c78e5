"""Re-create examples/corpus/pdf/how_rainbows_form.pdf.

Uses fpdf2 when it is importable (``pip install fpdf2``); otherwise falls back
to writing a minimal, valid one-page PDF by hand (standard Helvetica font,
ASCII text, correct xref table), so the script has no hard dependency.

    python examples/make_pdf.py [output.pdf] [--raw]

``--raw`` forces the hand-written fallback even if fpdf2 is installed.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

TITLE = "How Rainbows Form"
PARAGRAPHS = [
    "A rainbow appears when sunlight shines on falling raindrops while the Sun "
    "is behind the observer. Each drop acts like a tiny prism. Light entering "
    "the drop is refracted, reflected once off the back of the drop, and "
    "refracted again as it leaves.",
    "Because different wavelengths bend by slightly different amounts, white "
    "light spreads out into its colours: red on the outside of the arc, then "
    "orange, yellow, green and blue, with violet on the inside. The bow always "
    "sits about 42 degrees from the point directly opposite the Sun, which is "
    "why rainbows are seen most often in the early morning or late afternoon.",
    "A fainter secondary rainbow, with its colours in reverse order, is formed "
    "by light reflecting twice inside each drop.",
]

DEFAULT_OUT = Path(__file__).resolve().parent / "corpus" / "pdf" / "how_rainbows_form.pdf"


def make_with_fpdf(out: Path) -> None:
    from fpdf import FPDF  # fpdf2

    pdf = FPDF(format="A4")
    pdf.set_title(TITLE)
    pdf.set_author("semsearch examples")
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(0, 12, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=12)
    for para in PARAGRAPHS:
        pdf.multi_cell(0, 7, para, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.output(str(out))


def _pdf_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_raw(out: Path) -> None:
    """Write a minimal PDF 1.4 file by hand (ASCII text only)."""
    lines: list[tuple[str, int, str]] = [("F2", 18, TITLE)]
    for para in PARAGRAPHS:
        lines.append(("F1", 12, ""))
        for ln in textwrap.wrap(para, 85):
            lines.append(("F1", 12, ln))

    ops = ["BT", "72 770 Td"]
    current = None
    for font, size, text in lines:
        if (font, size) != current:
            ops.append(f"/{font} {size} Tf")
            current = (font, size)
        ops.append(f"({_pdf_escape(text)}) Tj")
        ops.append(f"0 -{int(size * 1.4)} Td")
    ops.append("ET")
    stream = "\n".join(ops).encode("ascii")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Title (" + _pdf_escape(TITLE).encode("ascii") + b") /Producer (make_pdf.py) >>",
    ]

    buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(buf))
        buf += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(buf)
    buf += f"xref\n0 {len(objects) + 1}\n".encode()
    buf += b"0000000000 65535 f \n"
    for off in offsets:
        buf += f"{off:010d} 00000 n \n".encode()
    buf += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 7 0 R >>\n"
        f"startxref\n{xref_at}\n%%EOF\n"
    ).encode()
    out.write_bytes(bytes(buf))


def main(argv: list[str]) -> int:
    raw = "--raw" in argv
    args = [a for a in argv if a != "--raw"]
    out = Path(args[0]) if args else DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    if not raw:
        try:
            make_with_fpdf(out)
            print(f"wrote {out} (fpdf2)")
            return 0
        except ImportError:
            pass
    make_raw(out)
    print(f"wrote {out} (hand-written PDF)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
