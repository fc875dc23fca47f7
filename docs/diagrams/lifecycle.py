"""Draw the intent lifecycle diagram of the architecture page as an SVG (no dependencies).

Run ``python docs/diagrams/lifecycle.py`` after changing it; it writes
``docs/_static/lifecycle.svg``, which is committed. ``--check`` exits 1 if the committed file is
out of date (for CI). The layout is explicit (coordinates below) so the output is stable.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

OUT = Path(__file__).resolve().parent.parent / "_static" / "lifecycle.svg"
WIDTH, HEIGHT = 1000, 560
BOX_W, BOX_H = 140, 40

OPEN_FILL, TERMINAL_FILL, HUMAN_FILL = "#e8f0fb", "#e6f4ea", "#fff4d6"
BAD_FILL = "#fbe9e9"
INK, MUTED, SIGNAL = "#1f2933", "#52606d", "#8a4baf"


@dataclass(frozen=True)
class Box:
    name: str
    x: float  # centre
    y: float  # centre
    fill: str = OPEN_FILL
    sub: str = ""

    @property
    def left(self) -> float:
        return self.x - BOX_W / 2

    @property
    def right(self) -> float:
        return self.x + BOX_W / 2

    @property
    def top(self) -> float:
        return self.y - BOX_H / 2

    @property
    def bottom(self) -> float:
        return self.y + BOX_H / 2


BOXES = {
    "CREATED": Box("CREATED", 96, 90),
    "SUBMITTED": Box("SUBMITTED", 250, 90),
    "DELIVERED": Box("DELIVERED", 410, 90),
    "ACKNOWLEDGED": Box("ACKNOWLEDGED", 570, 90),
    "IN_PROGRESS": Box("IN_PROGRESS", 570, 210),
    "WAITING": Box("WAITING", 330, 210, HUMAN_FILL, "+ waiting_reason"),
    "COMPLETED": Box("COMPLETED", 880, 90, TERMINAL_FILL),
    "FAILED": Box("FAILED", 880, 170, BAD_FILL),
    "CANCELED": Box("CANCELED", 880, 245, BAD_FILL),
    "TIMED_OUT": Box("TIMED_OUT", 880, 320, BAD_FILL),
}


def text(
    x: float,
    y: float,
    body: str,
    *,
    size: int = 13,
    fill: str = INK,
    anchor: str = "middle",
    weight: str = "normal",
    style: str = "normal",
) -> str:
    return (
        f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}" '
        f'font-weight="{weight}" font-style="{style}">{escape(body)}</text>'
    )


def box(b: Box) -> str:
    parts = [
        f'<rect x="{b.left:.0f}" y="{b.top:.0f}" width="{BOX_W}" height="{BOX_H}" rx="8" '
        f'fill="{b.fill}" stroke="{INK}" stroke-width="1.2"/>',
        text(b.x, b.y + (0 if b.sub else 5), b.name, weight="bold"),
    ]
    if b.sub:
        parts.append(text(b.x, b.y + 15, b.sub, size=10, fill=MUTED))
    return "\n".join(parts)


def arrow(
    x1: float,
    y1: float,
    x2: float,
    y2: float,
    *,
    dashed: bool = False,
    label: str = "",
    lx: float | None = None,
    ly: float | None = None,
    colour: str = INK,
) -> str:
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    parts = [
        f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{colour}" '
        f'stroke-width="1.4"{dash} marker-end="url(#head)"/>'
    ]
    if label:
        parts.append(
            text(
                lx if lx is not None else (x1 + x2) / 2,
                ly if ly is not None else (y1 + y2) / 2 - 6,
                label,
                size=11,
                fill=MUTED,
            )
        )
    return "\n".join(parts)


def right_to_left(a: str, b: str, label: str = "") -> str:
    s, t = BOXES[a], BOXES[b]
    return arrow(s.right, s.y, t.left - 2, t.y, label=label)


def draw() -> str:
    b = BOXES
    body: list[str] = []
    # The open region, from which fail / cancel / deadline lead out.
    body.append(
        f'<rect x="16" y="44" width="664" height="326" rx="14" fill="none" stroke="{MUTED}" '
        'stroke-width="1" stroke-dasharray="3 4"/>'
    )
    body.append(
        text(30, 362, "open (not terminal)", size=11, fill=MUTED, anchor="start", style="italic")
    )
    body.append(
        f'<rect x="796" y="44" width="168" height="326" rx="14" fill="none" stroke="{MUTED}" '
        'stroke-width="1" stroke-dasharray="3 4"/>'
    )
    body.append(text(880, 388, "terminal (final)", size=11, fill=MUTED, style="italic"))
    body.append(right_to_left("CREATED", "SUBMITTED"))
    body.append(right_to_left("SUBMITTED", "DELIVERED"))
    body.append(right_to_left("DELIVERED", "ACKNOWLEDGED"))
    ack, prog, wait = b["ACKNOWLEDGED"], b["IN_PROGRESS"], b["WAITING"]
    body.append(arrow(ack.x, ack.bottom, prog.x, prog.top - 2))
    # IN_PROGRESS <-> WAITING
    body.append(
        arrow(prog.left, prog.y - 8, wait.right + 2, wait.y - 8, label="blocked", ly=wait.y - 14)
    )
    body.append(
        arrow(
            wait.right,
            wait.y + 8,
            prog.left - 2,
            prog.y + 8,
            label="resume / approved",
            ly=wait.y + 26,
        )
    )
    body.append(arrow(b["SUBMITTED"].x, b["SUBMITTED"].bottom, wait.x - 30, wait.top - 2))
    done = b["COMPLETED"]
    body.append(
        arrow(prog.right, prog.y - 10, done.left - 2, done.y + 10, label="done", lx=720, ly=140)
    )
    # From the open region to the bad terminals.
    for name, label in (
        ("FAILED", "fail / rejected"),
        ("CANCELED", "cancel"),
        ("TIMED_OUT", "deadline_at passed"),
    ):
        t = b[name]
        body.append(arrow(680, t.y, t.left - 2, t.y, label=label, lx=745, ly=t.y + 16))
    for name in BOXES:
        body.append(box(b[name]))

    # Signals (purple): what django-axme sends, once, after the mirror change commits.
    sig = SIGNAL
    body.append(text(96, 130, "intent_created", size=11, fill=sig))
    body.append(text(96, 144, "(first mirrored)", size=10, fill=sig))
    body.append(text(330, 250, "intent_waiting", size=11, fill=sig))
    body.append(text(880, 62, "intent_completed", size=11, fill=sig))
    body.append(text(945, 202, "intent_failed", size=11, fill=sig, anchor="end"))
    body.append(text(945, 277, "intent_canceled", size=11, fill=sig, anchor="end"))
    body.append(text(945, 356, "intent_timed_out", size=11, fill=sig, anchor="end"))

    # The human approval loop, below.
    y0 = 450
    steps = [
        (110, "WAITING_FOR_HUMAN", "inbox thread opened"),
        (330, "Approval mirrored", "approval_requested"),
        (560, "Decision in the admin", "recorded, then sent"),
        (800, "Gateway confirms", "approval_decided"),
    ]
    body.append(
        text(
            20,
            y0 - 32,
            "Human approval (WAITING with WAITING_FOR_HUMAN)",
            size=13,
            anchor="start",
            weight="bold",
        )
    )
    for i, (x, title, note) in enumerate(steps):
        body.append(
            f'<rect x="{x - 95}" y="{y0 - 20}" width="190" height="48" rx="8" '
            f'fill="{HUMAN_FILL}" stroke="{INK}" stroke-width="1.2"/>'
        )
        body.append(text(x, y0, title, weight="bold"))
        colour = sig if note.startswith("approval_") else MUTED
        body.append(text(x, y0 + 17, note, size=11, fill=colour))
        if i:
            prev = steps[i - 1][0]
            body.append(arrow(prev + 95, y0 + 4, x - 97, y0 + 4))
    body.append(
        text(
            800, y0 + 50, "approve → IN_PROGRESS → COMPLETED;  reject → FAILED", size=11, fill=MUTED
        )
    )
    body.append(
        text(
            20,
            HEIGHT - 12,
            "Every status change also sends intent_status_changed(previous_status, "
            "status, event) — exactly once, after commit, whichever path brought it.",
            size=11,
            fill=sig,
            anchor="start",
        )
    )

    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, '
            'Helvetica, Arial, sans-serif" role="img" aria-labelledby="title">',
            '<title id="title">AXME intent lifecycle and the django-axme signals</title>',
            '<rect width="100%" height="100%" fill="#ffffff"/>',
            '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{INK}"/></marker></defs>',
            *body,
            "</svg>",
            "",
        ]
    )


def main(argv: list[str]) -> int:
    svg = draw()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != svg:
            print(f"{OUT} is out of date: run python docs/diagrams/lifecycle.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(svg, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
