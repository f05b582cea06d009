"""A self-contained report of one training run and its evaluation.

    python -m hwlib.report runs/ts42M        # -> runs/ts42M/report.md, report.html, *.png

Reads what hwlib.train wrote into the run folder (metrics.jsonl, summary.json, the final or best
checkpoint's configuration) and what hwlib.evaluate wrote into <run>/eval/eval.json. A missing
piece (no evaluation yet, no judge configured) is stated in the report, which still builds.
report.md links the PNGs beside it; report.html inlines them, so it is one file to hand in.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import sys
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hwlib.judge import AGE_GROUPS, SCORES
from hwlib.utils import CheckpointError, safe_torch_load


# ------------------------------------------------------------------------------------ inputs
METRIC_KEYS = ("step", "loss", "lr", "tokens_per_s")  # what hwlib.train logs and the plots need


def read_metrics(path: Path) -> list[dict]:
    """The metrics.jsonl rows; a line cut short by a kill is skipped, any other is an error."""
    rows, lines = [], _read_text(path).splitlines()
    for i, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i < len(lines):
                raise ValueError(f"{path}: line {i} is not JSON") from None
            continue
        if not isinstance(row, dict) or not all(_is_number(row.get(k)) for k in METRIC_KEYS):
            raise ValueError(f"{path}: line {i} is not a metrics row (needs numbers for "
                             f"{', '.join(METRIC_KEYS)})")
        rows.append(row)
    return rows


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def _checkpoint_info(run_dir: Path, summary: dict) -> dict:
    """model_args and train_config from the run's final (else best, else any) checkpoint."""
    names = [summary.get("checkpoint"), summary.get("best_checkpoint")]
    candidates = [Path(n) for n in names if n] + sorted(run_dir.glob("*-best.pt"))
    candidates += sorted(p for p in run_dir.glob("*.pt") if not p.name.endswith("-resume.pt"))
    for path in candidates:
        if path.exists():
            try:
                ck = safe_torch_load(path)
            except CheckpointError:
                continue
            return {"path": str(path), "model_args": ck.get("model_args", {}),
                    "train_config": ck.get("train_config", {})}
    return {}


# ------------------------------------------------------------------------------------- plots
def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)  # the Agg canvas renders without a display or a global backend
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_losses(rows: list[dict], path: Path) -> Path:
    """Train and validation loss, and the learning rate, against the optimizer step."""
    fig = Figure(figsize=(8, 5.5))
    ax, lr = fig.add_subplot(2, 1, 1), fig.add_subplot(2, 1, 2)
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="train loss")
    val = [r for r in rows if "val_loss" in r]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="val loss")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.legend()
    ax.grid(alpha=0.3)
    lr.plot([r["step"] for r in rows], [r["lr"] for r in rows], color="tab:green")
    lr.set_xlabel("optimizer step")
    lr.set_ylabel("learning rate")
    lr.grid(alpha=0.3)
    return _save(fig, path)


def plot_throughput(rows: list[dict], path: Path) -> Path:
    """Tokens per second (and MFU when the trainer measured it on a GPU) per log step."""
    fig = Figure(figsize=(8, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    steps = [r["step"] for r in rows]
    ax.plot(steps, [r["tokens_per_s"] for r in rows], color="tab:blue")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("tokens/s", color="tab:blue")
    ax.grid(alpha=0.3)
    if any("mfu" in r for r in rows):
        mfu = ax.twinx()
        mfu.plot([r["step"] for r in rows if "mfu" in r],
                 [100 * r["mfu"] for r in rows if "mfu" in r], color="tab:red")
        mfu.set_ylabel("MFU (%)", color="tab:red")
    return _save(fig, path)


# -------------------------------------------------------------------------- document blocks
class Doc:
    """Headings, paragraphs, tables, images and preformatted text, rendered as Markdown or HTML."""

    def __init__(self):
        self.blocks: list[tuple] = []

    def h(self, level: int, text: str) -> None:
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list]) -> None:
        self.blocks.append(("table", header, [[_fmt(c) for c in r] for r in rows]))

    def img(self, path: Path, alt: str) -> None:
        self.blocks.append(("img", path, alt))

    def pre(self, text: str) -> None:
        self.blocks.append(("pre", text))

    def markdown(self) -> str:
        out = []
        for b in self.blocks:
            if b[0] == "h":
                out.append("#" * b[1] + " " + _md_text(b[2]))
            elif b[0] == "p":
                out.append(_md_text(b[1]))
            elif b[0] == "table":
                lines = ["| " + " | ".join(map(_md_cell, row)) + " |" for row in [b[1]] + b[2]]
                lines.insert(1, "|" + "---|" * len(b[1]))
                out.append("\n".join(lines))
            elif b[0] == "img":
                out.append(f"![{b[2]}]({b[1].name})")
            else:  # a fence longer than any backtick run inside, so the text cannot close it
                fence = "`" * max(3, 1 + max(map(len, re.findall("`+", b[1])), default=0))
                out.append(f"{fence}\n{b[1]}\n{fence}")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        e = html.escape
        out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
               "<style>body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}"
               "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
               "padding:4px 8px;vertical-align:top;text-align:left}img{max-width:100%}"
               "pre{background:#f4f4f4;padding:8px;overflow-x:auto}</style></head><body>"]
        for b in self.blocks:
            if b[0] == "h":
                out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
            elif b[0] == "p":
                out.append(f"<p>{e(b[1])}</p>")
            elif b[0] == "table":
                head = "".join(f"<th>{e(str(c))}</th>" for c in b[1])
                body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>"
                               for r in b[2])
                out.append(f"<table><tr>{head}</tr>{body}</table>")
            elif b[0] == "img":
                data = base64.b64encode(b[1].read_bytes()).decode("ascii")
                out.append(f"<img alt='{e(b[2])}' src='data:image/png;base64,{data}'>")
            else:
                out.append(f"<pre>{e(b[1])}</pre>")
        return "\n".join(out) + "\n</body></html>\n"


_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


_MD_SPECIAL = {"\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]"}


def _md_text(text) -> str:
    """Text shown as itself in Markdown: no raw HTML (<script>, <img onerror>), no links or images.

    Model names, samples and run names come from files anyone can edit; Markdown viewers render
    raw HTML and load ![](url) images, so both are escaped (entities, backslashes).
    """
    return "".join(_MD_SPECIAL.get(c, c) for c in str(text))


def _md_cell(text) -> str:
    """One Markdown table cell: escaped text; line breaks become <br>, other control chars go."""
    text = _LINE_BREAKS.sub("<br>", _md_text(text).replace("|", "\\|"))
    return _CONTROL.sub("", text.replace("\t", " "))


def _fmt(x) -> str:
    if isinstance(x, float):  # big rates read better whole, with thousands separators
        return f"{x:,.0f}" if abs(x) >= 1e4 else f"{x:.4g}"
    return "" if x is None else str(x)


# ----------------------------------------------------------------------------------- sections
def _training(doc: Doc, run_dir: Path, rows: list[dict], summary: dict, info: dict) -> None:
    doc.h(2, "Training")
    if summary:
        keys = ("steps", "tokens", "final_loss", "best_val_loss", "test_loss", "test_perplexity",
                "tokens_per_s")
        doc.table(["quantity", "value"], [[k, summary.get(k)] for k in keys])
    if rows:
        mfu = [r["mfu"] for r in rows if "mfu" in r]
        if mfu:
            doc.p(f"MFU (PaLM appendix B FLOPs over the GPU's bf16 peak): mean "
                  f"{sum(mfu) / len(mfu):.1%}, last {mfu[-1]:.1%}.")
        else:
            doc.p("No MFU: the trainer reports it on a GPU with a known peak only.")
        doc.img(plot_losses(rows, run_dir / "loss.png"), "loss curves")
        doc.img(plot_throughput(rows, run_dir / "throughput.png"), "throughput")
    else:
        doc.p(f"No training metrics: {run_dir / 'metrics.jsonl'} is missing or empty.")
    doc.h(2, "Configuration")
    if not info:
        doc.p("No checkpoint found in the run folder, so the configuration is unknown.")
        return
    doc.p(f"From {info['path']}.")
    doc.table(["model", "value"], [[k, v] for k, v in info["model_args"].items()])
    doc.table(["training flag", "value"], [[k, v] for k, v in info["train_config"].items()])


def _evaluation(doc: Doc, ev: dict | None, eval_path: Path) -> None:
    doc.h(2, "Evaluation")
    if ev is None:
        doc.p(f"No evaluation yet ({eval_path} is missing): run python -m hwlib.evaluate "
              f"--checkpoint ... --out {eval_path.parent}")
        return
    names = [m["name"] for m in ev["models"]]
    doc.h(3, "Bits per byte on held-out stories (lower is better)")
    bpb = ev["bits_per_byte"]
    params = {m["name"]: f"{m['params'] / 1e6:.1f}M" for m in ev["models"]}
    doc.table(["model", "parameters", "bits per byte", "bytes per token", "stories"],
              [[n, params[n], bpb[n]["bits_per_byte"], bpb[n]["bytes_per_token"],
                bpb[n]["stories"]] for n in names])
    doc.h(3, "LLM judge (TinyStories protocol)")
    judge = ev.get("judge", {})
    if "missing" in judge:
        doc.p(f"Missing: {judge['missing']}")
    else:
        s = judge["summary"]
        doc.p(f"Judge model {judge['judge_model']}; grades 1-10, means over the parsed verdicts.")
        if judge.get("error"):
            doc.p(f"The judge failed; items after the failure were not graded: {judge['error']}")
        doc.table(["model", *SCORES, "most common age group", "graded", "unparseable", "failed"],
                  [[n, *[s[n][k] for k in SCORES], _mode_age(s[n]["age_groups"]), s[n]["n"],
                    s[n]["unparseable"], s[n].get("failed", 0)] for n in names])
    doc.h(3, "Diversity and repetition of the judged completions")
    keys = list(next(iter(ev["diversity"].values())))
    doc.table(["model", *keys], [[n, *[ev["diversity"][n][k] for k in keys]] for n in names])
    doc.h(3, "Samples: the same prompts, the same sampling settings")
    c = ev["config"]
    doc.p(f"temperature {c['temperature']}, top-k {c['top_k']}, top-p {c['top_p']}, "
          f"up to {c['max_new_tokens']} new tokens.")
    doc.table(["prompt", *names], [[s["prompt"], *[s[n] for n in names]] for s in ev["samples"]])


def _mode_age(counts: dict) -> str:
    if not any(counts.values()):
        return ""
    g = max(counts, key=counts.get)
    return f"{g} ({AGE_GROUPS[g]})"


def build_report(run_dir: str | Path) -> dict[str, Path]:
    """Write report.md, report.html and the plots into run_dir; return their paths."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: run folder not found")
    metrics = run_dir / "metrics.jsonl"
    rows = read_metrics(metrics) if metrics.exists() else []
    summary = _read_json(run_dir / "summary.json") or {}
    eval_path = run_dir / "eval" / "eval.json"
    ev = _read_json(eval_path)
    info = _checkpoint_info(run_dir, summary)

    doc = Doc()
    title = f"hwlib run {run_dir.name}"
    doc.h(1, title)
    _training(doc, run_dir, rows, summary, info)
    try:
        _evaluation(doc, ev, eval_path)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, StopIteration) as e:
        # JSON of another shape (hand-edited, another tool's): name the file, not a traceback
        what = f"missing {e}" if isinstance(e, KeyError) else f"{type(e).__name__}: {e}"
        raise ValueError(f"{eval_path}: not an hwlib.evaluate result ({what})") from None
    out = {"markdown": run_dir / "report.md", "html": run_dir / "report.html"}
    out["markdown"].write_text(doc.markdown(), encoding="utf-8")
    out["html"].write_text(doc.html(title), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hwlib.report", description=__doc__.split("\n")[0])
    p.add_argument("run_dir", help="a hwlib.train run folder (<out_dir>/<run_name>)")
    a = p.parse_args(argv)
    try:
        out = build_report(a.run_dir)
    except (ValueError, OSError) as e:
        sys.exit(f"error: {e}")
    print(f"wrote {out['markdown']} and {out['html']}")


if __name__ == "__main__":
    main()
