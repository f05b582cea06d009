"""Point every notebook's Colab badge and clone URL at the repository where the kit is published.

    python -m hwlib.publish --repo-url https://github.com/ORG/REPO notebooks/            # in place
    python -m hwlib.publish --repo-url https://github.com/ORG/REPO student/ student/     # the same
    python -m hwlib.publish --repo-url https://github.com/ORG/REPO notebooks/ out/      # a copy

Only two strings change in each notebook: the badge's link
`https://colab.research.google.com/github/ORG/REPO/blob/BRANCH/<folder>/<name>.ipynb` (the folder is
the published one: `notebooks` for the instructor version, whatever DST is called for a copy) and
the setup cell's `url = "https://github.com/ORG/REPO.git"`, which the Colab setup clones. Every
notebook is checked before any is written, so an error leaves all of them as they were.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from hwlib.student import SolutionMarkerError, notebook_paths, read_notebook, write_notebook

REPO_URL_RE = re.compile(r"^https://github\.com/(?P<repo>[\w.-]+/[\w.-]+?)(?:\.git)?/?$")
# The badge's target: Colab's GitHub viewer for one notebook on one branch.
BADGE_RE = re.compile(
    r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+?/"
    r"(?P<name>[\w.-]+\.ipynb)"
)
# The setup cell's clone URL (only this assignment: other GitHub links in a notebook are prose).
CLONE_RE = re.compile(r'(?P<lhs>\burl = ")https://github\.com/[\w.-]+/[\w.-]+?\.git(?=")')


class PublishError(ValueError):
    """A repository URL or a notebook that the publish step cannot handle."""


def parse_repo_url(url: str) -> str:
    """`OWNER/REPO` of a https://github.com/OWNER/REPO URL (Colab's badge opens only GitHub)."""
    match = REPO_URL_RE.match(url.strip())
    if not match:
        raise PublishError(f"--repo-url {url!r}: expected https://github.com/OWNER/REPO")
    return match.group("repo")


def publish_notebook(nb: dict, repo: str, folder: str, branch: str = "main",
                     name: str = "notebook") -> dict:
    """`nb` with its badge and clone URL pointing at `repo`; each must appear exactly once."""
    counts = {"badge": 0, "clone": 0}

    def badge(match: re.Match) -> str:
        counts["badge"] += 1
        return (f"https://colab.research.google.com/github/{repo}/blob/{branch}/{folder}/"
                f"{match.group('name')}")

    def clone(match: re.Match) -> str:
        counts["clone"] += 1
        return f"{match.group('lhs')}https://github.com/{repo}.git"

    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        lines = src if isinstance(src, list) else [src]
        new = [CLONE_RE.sub(clone, BADGE_RE.sub(badge, line)) for line in lines]
        cell["source"] = new if isinstance(src, list) else new[0]
    for what, n in counts.items():
        if n != 1:
            text = ("Colab badge link" if what == "badge"
                    else 'setup cell clone URL (url = "...git")')
            raise PublishError(f"{name}: expected one {text}, found {n}")
    return nb


def publish(src: str | Path, dst: str | Path | None, repo_url: str,
            branch: str = "main") -> list[Path]:
    """Rewrite every notebook of `src` (a folder or one .ipynb) into `dst` (default: in place)."""
    repo = parse_repo_url(repo_url)
    src = Path(src)
    try:
        paths = notebook_paths(src)
    except SolutionMarkerError as e:  # "no such notebook or folder", "no .ipynb files found"
        raise PublishError(str(e)) from None
    dst = Path(dst) if dst is not None else (src if src.is_dir() else src.parent)
    folder = dst.resolve().name  # the badge opens the notebook where it is published
    try:
        done = [(dst / p.name, publish_notebook(read_notebook(p), repo, folder, branch, str(p)))
                for p in paths]
    except SolutionMarkerError as e:  # read_notebook's one-line "not a notebook" error
        raise PublishError(str(e)) from None
    for path, nb in done:
        write_notebook(nb, path)
    return [path for path, _ in done]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hwlib.publish", description=__doc__.splitlines()[0])
    p.add_argument("--repo-url", required=True, help="https://github.com/OWNER/REPO")
    p.add_argument("--branch", default="main", help="the branch the badges open")
    p.add_argument("src", help="folder of notebooks (or one .ipynb)")
    p.add_argument("dst", nargs="?", default=None, help="output folder (default: rewrite in place)")
    args = p.parse_args(argv)
    try:
        written = publish(args.src, args.dst, args.repo_url, args.branch)
    except PublishError as e:
        sys.exit(f"error: {e}")
    print(f"{len(written)} notebook(s) now open and clone {parse_repo_url(args.repo_url)} "
          f"({args.branch}): {', '.join(p.name for p in written)}")


if __name__ == "__main__":
    main()
