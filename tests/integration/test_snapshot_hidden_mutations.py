"""Hidden mutations: a snapshot holds every variable's value as it is, whatever changed it.

A cell that only calls a function (or a method, a partial, a lambda, a thread, `exec`, `%run -i`, a local
module) changes globals its source never names. Each pattern below runs in one shared "source" kernel under
its own name prefix: setup, snapshot one, the hidden mutation (cells that name no mutated variable), snapshot
two. One shared "restore" kernel then restores snapshot two (`--only` the pattern's names) and must show what
the source kernel shows (a JSON probe, plus identity/aliasing checks). Then the mutation runs once more in
both kernels: restored notebook functions must act on the restored globals, as the originals did.
A second test asks snapshot two to *report* each mutated variable as changed (or as not stored).

Mutation cells only call: a cell that defines a function touches every name in its body, which would hide
the bug. The harness's own probes run after snapshot two for the same reason.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_helpers import Kernel

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: Run the pattern's mutation cells again in both kernels (restored functions must mutate restored globals).
AGAIN = "again"


@dataclasses.dataclass(frozen=True)
class Pattern:
    id: str
    #: Every variable of the pattern starts with it (a report naming another variable is a false alarm).
    prefix: str
    #: The pattern's variables in snapshot two (restored with `--only`); not the deleted ones.
    names: tuple[str, ...]
    setup: str
    #: Cells run between snapshot one and two; none of them names a variable it changes.
    mutate: tuple[str, ...]
    #: A JSON-able expression: equal in the source kernel after snapshot two and in the restore kernel.
    probe: str
    #: Names snapshot two must report as changed (existing before) / added (new) / removed.
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: Names that cannot be stored: reported as such, never restored (and never restored stale).
    unstorable: tuple[str, ...] = ()
    #: Expressions that must be True in the restore kernel (identity, aliasing).
    checks: tuple[str, ...] = ()
    #: After the probe: AGAIN (the mutation cells), other code, or None; run in both kernels, probe compared.
    again: str | None = AGAIN
    #: Files written into the project before setup (scripts, local modules).
    files: tuple[tuple[str, str], ...] = ()
    #: A module the pattern needs; skipped with the reason when it is not importable.
    needs: str | None = None
    #: Run in the source kernel right after snapshot two and the probe.
    cleanup: str | None = None


PATTERNS = [
    Pattern(
        id="function-mutates-dict-and-list",
        prefix="fn_",
        names=("fn_cfg", "fn_list", "fn_go"),
        setup="""
fn_cfg = {'lr': 0.01, 'n': 0}
fn_list = ['a']
def fn_go():
    fn_cfg['lr'] = 0.5
    fn_cfg['n'] += 1
    fn_list.append(len(fn_list))
""",
        mutate=("fn_go()",),
        probe="[fn_cfg, fn_list]",
        changed=("fn_cfg", "fn_list"),
    ),
    Pattern(
        id="function-mutates-ndarray-in-place",
        prefix="nd_",
        names=("nd_arr", "nd_go"),
        setup="""
import numpy as np
nd_arr = np.zeros(6)
def nd_go():
    nd_arr[1] += 5
    nd_arr[:] *= 2
""",
        mutate=("nd_go()",),
        probe="nd_arr.tolist()",
        changed=("nd_arr",),
    ),
    Pattern(
        id="function-writes-through-ndarray-view",
        prefix="vw_",
        names=("vw_arr", "vw_v", "vw_go"),
        setup="""
import numpy as np
vw_arr = np.arange(8.0)
vw_v = vw_arr[2:5]
def vw_go():
    vw_v[:] += 9
""",
        mutate=("vw_go()",),
        probe="[vw_arr.tolist(), vw_v.tolist()]",
        changed=("vw_arr", "vw_v"),
        checks=(
            "vw_v.base is vw_arr or (vw_v.__array_interface__['data'][0] - "
            "vw_arr.__array_interface__['data'][0] == 2 * vw_arr.itemsize)",
        ),
    ),
    Pattern(
        id="function-mutates-dataframe-column-and-fillna-inplace",
        prefix="pdf_",
        names=("pdf_df", "pdf_go"),
        setup="""
import pandas as pd
pdf_df = pd.DataFrame({'a': [1.0, None, 3.0], 'b': [1, 2, 3]})
def pdf_go():
    pdf_df['b'] = pdf_df['b'] * 2
    pdf_df['c'] = pdf_df['b'] + 1
    pdf_df.fillna(0, inplace=True)
""",
        mutate=("pdf_go()",),
        probe="pdf_df.to_dict('list')",
        changed=("pdf_df",),
    ),
    Pattern(
        id="dict-of-dataframes-mutated-through-the-dict",
        prefix="dd_",
        names=("dd_frames", "dd_a", "dd_go"),
        setup="""
import pandas as pd
dd_frames = {'a': pd.DataFrame({'x': [1, 2]}), 'b': pd.DataFrame({'x': [3]})}
dd_a = dd_frames['a']
def dd_go():
    dd_frames['a']['x'] += 10
    dd_frames['b'].loc[0, 'x'] = 99
    dd_frames['c' + str(len(dd_frames))] = pd.DataFrame({'x': [5]})
""",
        mutate=("dd_go()",),
        probe="[{k: v['x'].tolist() for k, v in sorted(dd_frames.items())}, dd_a['x'].tolist()]",
        changed=("dd_frames", "dd_a"),
        checks=("dd_a is dd_frames['a']",),
    ),
    Pattern(
        id="method-mutates-instance-and-class-attribute",
        prefix="cm_",
        names=("cm_Counter", "cm_obj", "cm_go"),
        setup="""
class cm_Counter:
    total = 0
    def __init__(self):
        self.n = 0
        self.log = []
    def hit(self):
        self.n += 1
        self.log.append(self.n)
        type(self).total += 1
cm_obj = cm_Counter()
def cm_go():
    cm_obj.hit()
    cm_obj.hit()
""",
        mutate=("cm_go()",),
        probe="[cm_obj.n, cm_obj.log, cm_Counter.total, type(cm_obj).total]",
        changed=("cm_obj", "cm_Counter"),
        checks=("type(cm_obj) is cm_Counter",),
    ),
    Pattern(
        id="nested-calls-two-levels-deep",
        prefix="ns_",
        names=("ns_state", "ns_list", "ns_inner", "ns_outer"),
        setup="""
ns_state = {'depth': 0}
ns_list = []
def ns_inner():
    ns_state['depth'] += 1
    ns_list.append(ns_state['depth'])
def ns_outer():
    ns_inner()
""",
        mutate=("ns_outer()",),
        probe="[ns_state, ns_list]",
        changed=("ns_state", "ns_list"),
    ),
    Pattern(
        id="closure-over-a-global",
        prefix="cl_",
        names=("cl_cfg", "cl_make", "cl_set"),
        setup="""
cl_cfg = {'a': 1}
def cl_make(d):
    def setter(k, v):
        d[k] = d.get(k, 0) + v
    return setter
cl_set = cl_make(cl_cfg)
""",
        mutate=("cl_set('a', 1)",),
        probe="cl_cfg",
        changed=("cl_cfg",),
        checks=("cl_set.__closure__[0].cell_contents is cl_cfg",),
    ),
    Pattern(
        id="lambda-default-over-a-global",
        prefix="ld_",
        names=("ld_cfg", "ld_g"),
        setup="""
ld_cfg = {'n': 0}
ld_g = lambda d=ld_cfg: d.update(n=d['n'] + 1)
""",
        mutate=("ld_g()",),
        probe="ld_cfg",
        changed=("ld_cfg",),
        checks=("ld_g.__defaults__[0] is ld_cfg",),
    ),
    Pattern(
        id="functools-partial",
        prefix="pt_",
        names=("pt_partial", "pt_cfg", "pt_log", "pt_bump", "pt_put", "pt_go", "pt_add"),
        setup="""
from functools import partial as pt_partial
pt_cfg = {'hits': 0}
pt_log = []
def pt_bump(k):
    pt_cfg[k] += 1
def pt_put(lst, v):
    lst.append(v)
pt_go = pt_partial(pt_bump, 'hits')
pt_add = pt_partial(pt_put, pt_log)
""",
        mutate=("pt_go(); pt_add('x')",),
        probe="[pt_cfg, pt_log]",
        changed=("pt_cfg", "pt_log"),
        checks=("pt_add.args[0] is pt_log",),
    ),
    Pattern(
        id="bound-method-alias",
        prefix="ba_",
        names=("ba_Acc", "ba_acc", "ba_f"),
        setup="""
class ba_Acc:
    def __init__(self):
        self.items = []
ba_acc = ba_Acc()
ba_acc.items.append(1)
ba_f = ba_acc.items.append
""",
        mutate=("ba_f(2)",),
        probe="ba_acc.items",
        changed=("ba_acc",),
        checks=("ba_f.__self__ is ba_acc.items",),
    ),
    Pattern(
        id="exec-string",
        prefix="ex_",
        names=("ex_cfg",),
        setup="ex_cfg = {'a': 1}",
        mutate=("exec(\"ex_cfg['a'] += 1\")",),
        probe="ex_cfg",
        changed=("ex_cfg",),
    ),
    Pattern(
        id="globals-subscript-in-function",
        prefix="gl_",
        names=("gl_x", "gl_y", "gl_new", "gl_go"),
        setup="""
gl_x = {'v': 1}
gl_y = [1]
def gl_go():
    g = globals()
    g['gl_x'] = {'v': g['gl_x']['v'] + 1}
    g['gl_y'].append(len(g['gl_y']) + 1)
    g['gl_new'] = g.get('gl_new', 0) + 1
""",
        mutate=("gl_go()",),
        probe="[gl_x, gl_y, gl_new]",
        changed=("gl_x", "gl_y"),
        added=("gl_new",),
    ),
    Pattern(
        id="user-ns-subscript",
        prefix="un_",
        names=("un_list", "un_x"),
        setup="un_list = [1]\nun_x = 1",
        mutate=("get_ipython().user_ns['un_list'].append(2); get_ipython().user_ns['un_x'] += 1",),
        probe="[un_list, un_x]",
        changed=("un_list", "un_x"),
    ),
    Pattern(
        # the freed list's memory (and so its id) is reused at once by the new one: identity proves nothing
        id="rebind-reusing-the-same-id",
        prefix="ir_",
        names=("ir_x", "ir_swap"),
        setup="""
ir_x = [1, 2]
def ir_swap():
    g = globals()
    n = len(g.pop('ir_x'))
    g['ir_x'] = [n + 5, n + 6, n + 7]
""",
        mutate=("ir_swap()",),
        probe="ir_x",
        changed=("ir_x",),
    ),
    Pattern(
        id="shared-reference-inside-a-container",
        prefix="sh_",
        names=("sh_a", "sh_b", "sh_go"),
        setup="""
sh_a = [1]
sh_b = {'a': sh_a}
def sh_go():
    sh_a.append(len(sh_a) + 1)
""",
        mutate=("sh_go()",),
        probe="[sh_a, sh_b]",
        changed=("sh_a", "sh_b"),
        checks=("sh_b['a'] is sh_a",),
    ),
    Pattern(
        id="local-module-cache-held-in-a-global",
        prefix="mc_",
        # the local module's own data is snapshot state too: stored as `hm_cache.CACHE`, set back on the
        # module when it is restored, and still the same dict as the global that holds it
        names=("mc_cache", "hm_cache.CACHE"),
        setup="""
import hm_cache
from hm_cache import CACHE as mc_cache
hm_cache.fill('a', 1)
""",
        mutate=("hm_cache.fill('b', 2)",),
        probe="mc_cache",
        changed=("mc_cache", "hm_cache.CACHE"),
        checks=("__import__('hm_cache').CACHE is mc_cache",),
        again=None,
        files=(("hm_cache.py", "CACHE = {}\n\n\ndef fill(key, value):\n    CACHE[key] = value\n"),),
    ),
    Pattern(
        id="generator-advanced-in-function",
        prefix="gen_",
        names=("gen_g", "gen_seen", "gen_adv"),
        setup="""
gen_g = (i for i in range(10))
gen_seen = []
def gen_adv():
    gen_seen.append(next(gen_g))
    gen_seen.append(next(gen_g))
""",
        mutate=("gen_adv()",),
        probe="gen_seen",
        changed=("gen_seen",),
        unstorable=("gen_g",),
        again=None,  # the generator is not restored; it must not come back at position 0 either
    ),
    Pattern(
        id="numpy-random-generator-advanced",
        prefix="rng_",
        names=("rng_g", "rng_draw"),
        setup="""
import numpy as np
rng_g = np.random.default_rng(0)
def rng_draw():
    return rng_g.random(3).sum()
""",
        mutate=("rng_draw(); rng_draw()",),
        probe="rng_g.random(2).tolist()",  # the next draws: equal only if the state came back advanced
        changed=("rng_g",),
    ),
    Pattern(
        id="sklearn-estimator-fitted-in-train",
        prefix="sk_",
        names=("sk_LinearRegression", "sk_X", "sk_y", "sk_model", "sk_train"),
        setup="""
import numpy as np
from sklearn.linear_model import LinearRegression as sk_LinearRegression
sk_X = np.arange(20.0).reshape(10, 2)
sk_y = sk_X @ np.array([1.0, 2.0]) + 0.5
sk_model = sk_LinearRegression()
def sk_train():
    sk_model.fit(sk_X, sk_y)
""",
        mutate=("sk_train()",),
        probe="[hasattr(sk_model, 'coef_'), "
        "sk_model.predict(sk_X[:3]).round(6).tolist() if hasattr(sk_model, 'coef_') else None]",
        changed=("sk_model",),
    ),
    Pattern(
        id="torch-tensor-changed-in-place",
        prefix="tt_",
        names=("tt_t", "tt_go"),
        setup="""
import torch
tt_t = torch.zeros(4)
def tt_go():
    tt_t.add_(1)
    tt_t[0] = 5
""",
        mutate=("tt_go()",),
        probe="tt_t.tolist()",
        changed=("tt_t",),
        needs="torch",
    ),
    Pattern(
        # last but two: %run leaves __file__ in the namespace (every notebook function pickles differently)
        id="percent-run-script",
        prefix="run_",
        names=("run_cfg", "run_list"),
        setup="run_cfg = {'n': 0}\nrun_list = []",
        mutate=("%run -i hm_script.py",),
        probe="[run_cfg, run_list]",
        changed=("run_cfg", "run_list"),
        files=(("hm_script.py", "run_cfg['n'] += 1\nrun_list.append(run_cfg['n'])\n"),),
    ),
    Pattern(
        id="thread-appends-after-its-cell-ended",
        prefix="th_",
        names=("th_items", "th_work", "th_run_once", "th_t"),
        setup="""
import threading, time
th_items = []
def th_work():
    time.sleep(0.3)
    th_items.extend([len(th_items) + 1, len(th_items) + 2])
def th_run_once():
    t = threading.Thread(target=th_work)
    t.start()
    t.join()
""",
        mutate=("th_t = threading.Thread(target=th_work)\nth_t.start()", "th_t.join()"),
        probe="th_items",
        changed=("th_items",),
        added=("th_t",),
        unstorable=("th_t",),
        again="th_run_once()",
        cleanup="del th_t",  # a Thread reaches sys.stderr, and through it the kernel: keep it out of the rest
    ),
    Pattern(
        id="delete-through-globals",
        prefix="del_",
        names=("del_keep", "del_it"),
        setup="""
del_x = [1]
del_keep = {'k': 1}
def del_it():
    del globals()['del_x']
    del_keep['k'] = 2
""",
        mutate=("del_it()",),
        probe="[del_keep, 'del_x' in globals()]",
        changed=("del_keep",),
        removed=("del_x",),
        again=None,  # del_x is gone in both kernels
    ),
]


@dataclasses.dataclass
class Outcome:
    """What the source kernel did for one pattern."""

    first: dict[str, Any]
    second: dict[str, Any]
    expected: Any


class Lab:
    """The two kernels every test shares, and each pattern's source-side outcome (computed once)."""

    def __init__(self, project: Path, source: Kernel, restore: Kernel) -> None:
        self.project = project
        self.source = source
        self.restore = restore
        self._outcomes: dict[str, Outcome | BaseException] = {}

    def outcome(self, p: Pattern) -> Outcome:
        if p.id not in self._outcomes:
            try:
                self._outcomes[p.id] = self._run_source(p)
            except BaseException as exc:
                self._outcomes[p.id] = exc
                raise
        found = self._outcomes[p.id]
        if isinstance(found, BaseException):
            raise AssertionError(f"the source side of {p.id} failed earlier: {found}")
        return found

    def _run_source(self, p: Pattern) -> Outcome:
        for name, text in p.files:
            (self.project / name).write_text(text)
        self.source.run(p.setup)
        first = snapshot(self.source, f"{p.id}-one")
        for cell in p.mutate:
            self.source.run(cell)
        second = snapshot(self.source, f"{p.id}-two")
        outcome = Outcome(first, second, self.source.value(p.probe))
        if p.cleanup is not None:
            self.source.run(p.cleanup)
        return outcome

    def manifest(self, sid: str) -> dict[str, Any]:
        return json.loads((self.project / ".nblift" / "snapshots" / f"{sid}.json").read_text())


def snapshot(k: Kernel, message: str) -> dict[str, Any]:
    """`%lift snapshot --wait` (the user's way); its report is the SnapshotResult as JSON."""
    k.run(f"_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m {message}')")
    return k.value("_r.data")


def api_snapshot(k: Kernel, message: str, *, background: bool = False) -> dict[str, Any]:
    """The Python API: `snapshotter(get_ipython()).snapshot(...)` returns the SnapshotResult."""
    k.run(
        "from nblift.snapshot.verbs import snapshotter as _snapshotter\n"
        f"_r = _snapshotter(get_ipython()).snapshot({message!r}, background={background})"
    )
    return k.value("_r.to_json()")


def restore(k: Kernel, sid: str, names: list[str] | None = None) -> dict[str, Any]:
    only = f" --only {','.join(names)}" if names else ""
    k.run(f"_rr = get_ipython().run_line_magic('lift', '--json restore {sid}{only}')")
    return k.value("_rr.data")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("hidden_mutations")
    project = root / "proj"
    project.mkdir()
    env = {
        "NBLIFT_SECRET_FILE": str(root / "keys" / "mine"),
        "NBLIFT_SNAPSHOT_MLFLOW": "false",
        "NBLIFT_SNAPSHOT_VERIFY": "true",  # re-check stored values after each snapshot (ignored if unknown)
    }
    with pytest.MonkeyPatch.context() as mp:  # no developer NBLIFT_* / MLflow setting reaches the kernels
        for name in list(os.environ):
            if name.startswith("NBLIFT_") or name in ("MLFLOW_TRACKING_URI", "JPY_SESSION_NAME"):
                mp.delenv(name)
        source = Kernel(project, env)
        try:
            restored = Kernel(project, env)
        except BaseException:
            source.shutdown()
            raise
    try:
        source.run("%load_ext nblift")
        restored.run("%load_ext nblift")  # nothing else: a fresh kernel has no imports either
        yield Lab(project, source, restored)
    finally:
        source.shutdown()
        restored.shutdown()


def _skip_unless_importable(p: Pattern) -> None:
    if p.needs is not None and importlib.util.find_spec(p.needs) is None:
        pytest.skip(f"{p.needs} is not installed in this environment")


def _reported_unstorable(report: dict[str, Any], name: str) -> bool:
    return name in report["unstorable"] or any(
        w.startswith(f"{name}:") and "not stored" in w for w in report["warnings"]
    )


# -- the issue's own example -----------------------------------------------------------------------------
ISSUE_SETUP = """
cfg = {'lr': 0.01}; labels = ['a']; import numpy as np; arr = np.zeros(10)
def bump():
    cfg['lr'] = 0.5; labels.append('z'); arr[0] = 7
def bump2():
    cfg['lr'] = 0.9; labels.append('y'); arr[1] = 3
"""
ISSUE_ACC = """
class Acc:
    def __init__(self):
        self.items = []
acc = Acc()
"""


def test_issue_example_restores_what_a_function_changed(lab: Lab) -> None:
    src, dst = lab.source, lab.restore
    problems: list[str] = []
    src.run(ISSUE_SETUP)
    api_snapshot(src, "one")
    src.run("bump()")
    src.run(ISSUE_ACC)
    two = api_snapshot(src, "two")
    if not {"cfg", "labels", "arr"} <= set(two["changed"]):
        problems.append(f"snapshot two reports changed={two['changed']}, not cfg, labels, arr")
    src.run("acc.items.append(1); f = acc.items.append")
    api_snapshot(src, "three")
    src.run("f(2)")
    four = api_snapshot(src, "four")
    if "acc" not in four["changed"]:
        problems.append(f"snapshot four reports changed={four['changed']}, not acc")

    restore(dst, two["id"])
    got = dst.value("[cfg, labels, float(arr[0])]")
    if got != [{"lr": 0.5}, ["a", "z"], 7.0]:
        problems.append(f"restore two: [cfg, labels, arr[0]] == {got}")
    restore(dst, four["id"])
    got = dst.value("[acc.items, f.__self__ is acc.items]")
    if got != [[1, 2], True]:
        problems.append(f"restore four: [acc.items, f.__self__ is acc.items] == {got}")
    # a restored notebook function works on the restored globals: its globals are the kernel's namespace
    try:
        dst.run("bump2(); f(3)")
        got = dst.value("[cfg, labels, float(arr[1]), acc.items]")
    except AssertionError as exc:
        got = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]
    if got != [{"lr": 0.9}, ["a", "z", "y"], 3.0, [1, 2, 3]]:
        problems.append(
            f"after bump2(); f(3) in the restore kernel: [cfg, labels, arr[1], acc.items] == {got}"
        )
    assert not problems, "\n".join(problems)


def test_background_snapshot_sees_a_hidden_mutation(lab: Lab) -> None:
    """The forked (background) snapshot re-examines the same variables as a foreground one."""
    src, dst = lab.source, lab.restore
    src.run("bg_cfg = {'n': 0}\ndef bg_go():\n    bg_cfg['n'] += 1")
    api_snapshot(src, "bg-one")
    src.run("bg_go()")
    saving = api_snapshot(src, "bg-two", background=True)
    src.run("_done = _snapshotter(get_ipython()).collect(wait=True)")
    done = src.value("_done.to_json() if _done is not None else _r.to_json()")
    assert done["id"] == saving["id"]
    assert "bg_cfg" in done["changed"], done
    restore(dst, done["id"], ["bg_cfg"])
    assert dst.value("bg_cfg") == {"n": 1}


# -- the table -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p", PATTERNS, ids=[p.id for p in PATTERNS])
def test_restore_holds_the_hidden_mutation(lab: Lab, p: Pattern) -> None:
    _skip_unless_importable(p)
    out = lab.outcome(p)
    sid = out.second["id"]
    stored = lab.manifest(sid)["variables"]
    missing = [n for n in p.names if n not in stored]
    assert not missing, f"snapshot two lost {missing}"
    resurrected = [n for n in p.removed if n in stored]
    assert not resurrected, f"snapshot two still holds deleted {resurrected}"

    result = restore(lab.restore, sid, list(p.names))
    assert result["failed"] == {}, result
    problems: list[str] = []
    lost = {n: result["unstorable"].get(n, "not restored") for n in p.names if n not in result["restored"]}
    lost = {n: why for n, why in lost.items() if n not in p.unstorable}
    if lost:
        problems.append(f"not restored: {lost}")
    for name in p.unstorable:
        if name in result["restored"] or name not in result["unstorable"]:
            problems.append(f"{name} cannot be stored: restore must report it, not restore it ({result})")
    for name in (*p.unstorable, *p.removed):
        if lab.restore.value(f"{name!r} in globals()") is not False:
            problems.append(f"{name} is in the restore kernel, though snapshot two cannot hold it")
    got = lab.restore.value(p.probe) if not lost else None
    if not lost and got != out.expected:
        problems.append(f"restored {p.probe} == {got!r}; the source kernel had {out.expected!r}")
    for check in p.checks if not lost else ():
        if lab.restore.value(f"bool({check})") is not True:
            problems.append(f"identity lost after restore: {check}")
    if p.again is not None and not lost:
        problems += _again(lab, p)
    assert not problems, "\n".join(problems)


def _again(lab: Lab, p: Pattern) -> list[str]:
    """Run the mutation once more in both kernels: restored functions must act on the restored globals."""
    cells = p.mutate if p.again == AGAIN else (p.again,)
    for cell in cells:
        lab.source.run(cell)
    for cell in cells:
        try:
            lab.restore.run(cell)
        except AssertionError as exc:
            last = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()[-1]
            return [f"re-running {cell!r} after restore failed: {last}"]
    got, want = lab.restore.value(p.probe), lab.source.value(p.probe)
    if got != want:
        return [
            f"after re-running the mutation: restore kernel {got!r}, source kernel {want!r} "
            "(a restored function must change the kernel's globals, not copies)"
        ]
    return []


@pytest.mark.parametrize("p", PATTERNS, ids=[p.id for p in PATTERNS])
def test_snapshot_reports_the_hidden_mutation(lab: Lab, p: Pattern) -> None:
    _skip_unless_importable(p)
    report = lab.outcome(p).second
    assert report["state"] == "saved"
    problems = []
    for kind in ("changed", "added", "removed"):
        want = set(getattr(p, kind))
        if not want <= set(report[kind]):
            problems.append(f"{kind}: {sorted(want - set(report[kind]))} missing from {report[kind]}")
    problems += [
        f"{name} is not reported as not stored (unstorable={report['unstorable']})"
        for name in p.unstorable
        if not _reported_unstorable(report, name)
    ]
    # with snapshot_verify on, every snapshot re-encoded everything and found what it stored
    problems += [w for w in report["warnings"] if w.startswith("verify:")]
    foreign = [
        n
        for n in report["changed"] + report["added"] + report["removed"]
        if not n.startswith(p.prefix) and n not in p.names
    ]
    if foreign:
        problems.append(f"reported changed though nothing touched them: {foreign}")
    wrongly_unstorable = sorted(
        n for n in report["unstorable"] if n.startswith(p.prefix) and n not in p.unstorable
    )
    if wrongly_unstorable:
        problems.append(f"reported not stored, though storable: {wrongly_unstorable}")
    assert not problems, "\n".join(problems)


def test_a_thread_variable_does_not_make_other_variables_unstorable(lab: Lab) -> None:
    """A Thread holds sys.stderr, whose object graph reaches the kernel and so its namespace: grouping must
    not follow that path, or every variable re-examined with a Thread lands in its unstorable group."""
    src = lab.source
    src.run("import threading\ntg_cfg = {'a': 1}\ntg_t = threading.Thread(target=len, args=([],))")
    src.run("tg_t.start(); tg_t.join()")
    try:
        report = snapshot(src, "thread-group")
    finally:
        src.run("del tg_t")
    assert "tg_t" in report["unstorable"], report
    assert "tg_cfg" not in report["unstorable"], report["unstorable"]
