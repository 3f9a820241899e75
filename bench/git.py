"""Git benchmark: what the pre-push hook adds to a push, and what a branch commit costs as the
repository grows, each measured side by side with the plain alternative in one run.

Run: python bench/git.py [--pushes N] [--sizes 1000,10000,100000] [--commits N]

(a) A push to a local bare remote through the installed hook, when the push holds nothing for
    gitorch (no TASK.md change, review off), against the same push from a clone with no hook.
    Pushes alternate between the two clones so that machine noise hits both alike; medians of N.
    Target: under 60 ms added, close to Python's own start-up (printed as the floor).
(b) Committing 10 changed files as a branch commit with gitorch (trees built in memory, no
    checkout) on generated repositories of 1,000, 10,000 and 100,000 files, against the git
    command line doing the same through a worktree (git worktree add, copy, git add, git commit).
    Target: flat in repository size, under 50 ms at 100,000 files.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gitorch.git import hook
from gitorch.git import repo as gitops

ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
       "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_NOSYSTEM": "1"}
ENV.pop("GITORCH_SKIP", None)
# As installed for a user, Python caches compiled modules; a machine that forbids it (as some CI images
# do) would time the compiler instead. Caches go to a temporary folder, not into the source tree.
ENV.pop("PYTHONDONTWRITEBYTECODE", None)


def git(repo: Path, *args: str, stdin: bytes | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=ENV, check=True)
    return proc.stdout.decode().strip()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


# -- (a) push through the hook --------------------------------------------------------------------


def _timed(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """Wall time and CPU time (user + system, the process and its children, e.g. the hook)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), proc


def push_overhead(tmp: Path, pushes: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) of a push with no hook, through gitorch's hook, and of Python doing nothing."""
    remote = tmp / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, env=ENV)
    clones = {}
    for name in ("plain", "hooked"):
        path = tmp / name
        subprocess.run(["git", "init", "-q", "-b", name, str(path)], check=True, env=ENV)
        (path / "TASK.md").write_text("- [x] done already\n")  # present, but no push changes it
        (path / "code.py").write_text("x = 0\n")
        git(path, "add", "-A")
        git(path, "commit", "-qm", "start")
        git(path, "remote", "add", "origin", str(remote))
        git(path, "push", "-q", "origin", name)
        clones[name] = path
    hook.install(clones["hooked"])

    samples: dict[str, list[tuple[float, float]]] = {"plain": [], "hooked": [], "python": []}
    for i in range(pushes + 2):
        for name, path in clones.items():
            (path / "code.py").write_text(f"x = {i + 1}\n")
            git(path, "commit", "-qam", f"change {i}")
            wall, cpu, proc = _timed(["git", "-C", str(path), "push", "-q", "origin", name])
            if proc.returncode != 0 or proc.stderr.strip():
                raise SystemExit(f"push from {name} failed or printed: {proc.stderr.decode()}")
            if i >= 2:  # the first pushes warm caches (and write the hook's compiled modules)
                samples[name].append((wall, cpu))
        wall, cpu, _ = _timed([sys.executable, "-c", "pass"])
        samples["python"].append((wall, cpu))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in samples.items()}


# -- (b) branch commits on growing repositories ----------------------------------------------------


def make_repo(path: Path, files: int) -> list[str]:
    """A repository of ``files`` small files in folders of 100, written with git fast-import."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=ENV)
    paths = [f"src/p{i // 10000:02d}/m{(i // 100) % 100:02d}/file{i % 100:02d}.py" for i in range(files)]
    chunks = [b"commit refs/heads/main\ncommitter bench <bench@example.com> 1700000000 +0000\n"
              b"data 5\nbase\n"]
    for i, p in enumerate(paths):
        body = f"# {p}\nvalue = {i}\n".encode()
        chunks.append(b"M 100644 inline " + p.encode() + b"\ndata " + str(len(body)).encode() + b"\n" + body + b"\n")
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(chunks), check=True, env=ENV)
    git(path, "gc", "-q")
    return paths


def changed_files(paths: list[str], round_no: int) -> dict[str, str]:
    step = max(1, len(paths) // 10)
    return {paths[i * step]: f"# changed in round {round_no}\nvalue = {-i}\n" for i in range(10)}


def gitorch_commit(repo: Path, paths: list[str], rounds: int) -> tuple[float, float]:
    """Median (wall, cpu) of a gitorch branch commit of 10 files, each on a new branch from main."""
    samples = []
    for r in range(rounds + 1):
        artifacts = changed_files(paths, r)
        start, cpu = time.perf_counter(), time.process_time()
        result = gitops.commit_artifacts(repo, branch=f"gitorch/bench-{r}", parent="main", artifacts=artifacts,
                                         description="bench: change 10 files", run_id=f"bench-{r}", task_id="t1",
                                         agent="codex")
        sample = (time.perf_counter() - start, time.process_time() - cpu)
        assert result.created and len(result.changed) == 10
        if r:  # the first round loads the library and warms the pack index
            samples.append(sample)
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def cli_commit(repo: Path, paths: list[str], rounds: int, tmp: Path) -> tuple[float, float]:
    """The same with the git command line: a worktree, the files copied in, git add, git commit."""
    samples = []
    for r in range(rounds):
        artifacts = changed_files(paths, 1000 + r)
        where = tmp / f"wt-{r}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        git(repo, "worktree", "add", "-q", "-b", f"cli/bench-{r}", str(where), "main")
        for p, text in artifacts.items():
            (where / p).write_text(text)
        git(where, "add", "-A")
        git(where, "commit", "-qm", "bench: change 10 files")
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append((wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)))
        git(repo, "worktree", "remove", "--force", str(where))
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=40, help="pushes per side for (a)")
    parser.add_argument("--sizes", default="1000,10000,100000", help="repository sizes in files for (b)")
    parser.add_argument("--commits", type=int, default=9, help="gitorch commits per size for (b)")
    parser.add_argument("--cli-commits", type=int, default=3, help="git CLI worktree commits per size for (b)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gitorch-bench-") as tmp_name:
        tmp = Path(tmp_name)
        ENV["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        print(f"(a) push to a local bare remote, nothing for gitorch in it; median of {args.pushes}")
        a = push_overhead(tmp / "push", args.pushes)
        print("                          wall time     CPU time (user+sys, with children)")
        for label, key in (("no hook", "plain"), ("gitorch hook", "hooked"), ("python -c pass", "python")):
            print(f"    {label:18s} {ms(a[key][0])}    {ms(a[key][1])}")
        added_wall, added_cpu = a["hooked"][0] - a["plain"][0], a["hooked"][1] - a["plain"][1]
        print(f"    added by the hook  {ms(added_wall)}    {ms(added_cpu)}   (target < 60 ms)")
        print(f"    ratio hook/no hook {a['hooked'][0] / a['plain'][0]:7.2f}x      {a['hooked'][1] / a['plain'][1]:7.2f}x")
        print(f"    added beyond Python's own start-up: {ms(added_wall - a['python'][0])} wall, "
              f"{ms(added_cpu - a['python'][1])} CPU")

        print("\n(b) commit 10 changed files as a branch commit (medians; wall / CPU)")
        print("    files      gitorch, trees in memory      git CLI via a worktree           ratio (wall)")
        for size in (int(s) for s in args.sizes.split(",")):
            repo = tmp / f"repo-{size}"
            paths = make_repo(repo, size)
            ours = gitorch_commit(repo, paths, args.commits)
            theirs = cli_commit(repo, paths, args.cli_commits, tmp)
            print(f"    {size:>7,}    {ms(ours[0])} / {ms(ours[1])}    {ms(theirs[0])} / {ms(theirs[1])}"
                  f"    {theirs[0] / ours[0]:6.0f}x")

if __name__ == "__main__":
    main()
