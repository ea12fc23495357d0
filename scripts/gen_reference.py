"""Write docs/reference/api.md, the API reference of i2i, from the docstrings of the public API.

    python scripts/gen_reference.py           # regenerate docs/reference/api.md
    python scripts/gen_reference.py --check   # exit 1 if the committed page is out of date

The page is generated, never edited by hand: change a docstring, then run this. tests/
test_reference_docs.py fails when the committed page differs from what this script writes, so
the reference cannot drift from the code. Which modules the page covers is `MODULES` below, the
one place to add a module to the reference.

What counts as public in a module: the names in its `__all__` when it has one, else every name not
starting with "_" that the module itself defines (classes, functions, and constants that carry a
docstring string literal right after them). Classes list their public methods and properties.
The script lives outside the core on purpose: the installed package stays small.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "reference" / "api.md"

# (module, what a plugin author reads it for). Add new public modules here, in reading order.
MODULES: list[tuple[str, str]] = [
    ("i2i", "the top-level exports"),
    ("i2i.modality", "the contract a plugin fills in"),
    ("i2i.hookspecs", "the hooks a plugin implements"),
    ("i2i.interfaces", "conditioner, generator and discriminator base classes"),
    ("i2i.keys", "batch keys the engine reads"),
    ("i2i.errors", "the error types users see as one line"),
    ("i2i.pipeline", "inference: Pipeline and load_pipeline"),
    ("i2i.shipped", "a plugin's shipped models: names, the default, PLUGIN:MODEL"),
    ("i2i.chain", "chains of models: --then stages, frames streaming through all"),
    ("i2i.notebook", "calling a pipeline from Python: pipe(image) -> PIL images"),
    ("i2i.hub", "Hugging Face Hub: hf:// model ids, uploading a folder"),
    ("i2i.hub_export", "the Hub folder of a model: files, model card, samples"),
    ("i2i.serve", "i2i serve: the web page, a tab per plugin built from its InputSpecs"),
    ("i2i.tiling", "tiled inference: large inputs as blended tiles in bounded memory"),
    ("i2i.data", "the data helpers, importable from one place"),
    ("i2i.data.dataset", "dataset base class and sample keys"),
    ("i2i.data.folders", "photo folders: splits, name matching, two domains"),
    ("i2i.data.images", "robust image reading, tensors, saving"),
    ("i2i.data.color", "sRGB <-> CIE Lab with scikit-image's conventions, in torch"),
    ("i2i.data.transforms", "one crop/flip for every image of a sample"),
    ("i2i.data.text", "text side-car files: UTF-8 text, JSON lines, pickled name lists"),
    ("i2i.data.jsonfile", "bounded JSON reading of user files, shared type checks"),
    ("i2i.data.video", "video reading and writing"),
    ("i2i.metrics", "the evaluator API"),
    ("i2i.metrics.paired", "scores against paired ground truth"),
    ("i2i.metrics.video", "temporal stability"),
    ("i2i.metrics.batches", "an evaluator's batches: stacking a split, generating in chunks"),
    ("i2i.metrics.judges", "cached proxy judges"),
    ("i2i.metrics.fcn", "the proxy judges' network"),
    ("i2i.metrics.result", "the evaluator result header"),
    ("i2i.data.demo", "calling a demo-data writer"),
    ("i2i.validation", "checking a plugin's config values"),
    ("i2i.export", "ONNX export and a plugin's exportable parts"),
    ("i2i.onnx_runtime", "ONNX Runtime sessions"),
    ("i2i.engine.device", "device and precision"),
    ("i2i.engine.autoprecision", "precision: auto by measurement"),
    ("i2i.inputs", "inference input readers and per-stream state"),
    ("i2i.terms", "loss terms and the step context they see"),
    ("i2i.losses", "the adversarial criteria and regularisers terms are built from"),
    ("i2i.engine.recipe", "training recipes: networks, optimisers, one step"),
    ("i2i.engine.recipes.paired", "the paired recipe (one generator, one discriminator)"),
    ("i2i.engine.adapt", "test-time fine-tuning through the engine"),
    ("i2i.nets.wrappers", "the standard networks configs name: which Condition field each reads"),
    ("i2i.nets.pix2pix_import", "original pix2pix/CycleGAN generator checkpoints"),
    ("i2i.nets.foreign", "reading other projects' checkpoint files, for importers"),
]

HEADER = """\
# API reference

Generated from the docstrings by `python scripts/gen_reference.py`; do not edit by hand (change the
docstring and regenerate; `tests/test_reference_docs.py` checks that this page is up to date).
For the concepts read [writing-a-plugin.md](../writing-a-plugin.md) and [hooks.md](../hooks.md).
"""


def _anchor(module: str) -> str:
    return module.replace(".", "")


def _clean(text: str) -> str:
    """Reprs that differ between runs or machines (object addresses) are replaced by a stable form."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text)


def _doc(obj: Any) -> str:
    doc = inspect.getdoc(obj)
    return doc.strip() if doc else "*(no docstring)*"


def _own_doc(obj: Any) -> str | None:
    """The object's own docstring, not one inherited from a base class or from `object`."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


class _Annotation:
    """An annotation shown as written: modules use `from __future__ import annotations`, so their
    annotations are strings, which `inspect` would otherwise print quoted."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _unquote(annotation: Any) -> Any:
    return _Annotation(annotation) if isinstance(annotation, str) else annotation


def _source_defaults(obj: Any) -> dict[str, str]:
    """Parameter defaults as the source writes them (`SPLIT_FOLDERS`, `DEFAULT_MAX_PIXELS`), which
    say more than their values and never show a machine-dependent repr."""
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(target)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return {}
    func = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if func is None:
        return {}
    args = func.args
    positional = args.posonlyargs + args.args
    out = {
        a.arg: ast.unparse(d)
        for a, d in zip(positional[len(positional) - len(args.defaults) :], args.defaults)
    }
    out.update({a.arg: ast.unparse(d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return out


def _own_init(cls: type) -> bool:
    """Whether the class's constructor is i2i's (else it is torch's `*args, **kwargs`: not shown)."""
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__:
            return klass.__module__.startswith("i2i")
    return False


def _signature(obj: Any, name: str) -> str:
    if inspect.isclass(obj) and not _own_init(obj):
        return name
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return name
    written = _source_defaults(obj)
    params = []
    for p in sig.parameters.values():
        p = p.replace(annotation=_unquote(p.annotation))
        if p.default is not inspect.Parameter.empty and p.name in written:
            p = p.replace(default=_Annotation(written[p.name]))
        params.append(p)
    returns = inspect.Signature.empty if inspect.isclass(obj) else _unquote(sig.return_annotation)
    sig = sig.replace(parameters=params, return_annotation=returns)
    return _clean(f"{name}{sig}")


def _module_tree(module: ModuleType) -> ast.Module | None:
    try:
        return ast.parse(inspect.getsource(module))
    except (OSError, TypeError):
        return None


def _constant_docs(module: ModuleType) -> dict[str, str]:
    """Docstrings of module constants: a string literal right after `NAME = ...` (PEP 257's
    attribute docstrings, which Sphinx reads too); assignments on consecutive lines share it."""
    tree = _module_tree(module)
    docs: dict[str, str] = {}
    pending: list[str] = []
    last_line = -1
    for node in tree.body if tree else []:
        if node.lineno > last_line + 1:
            pending = []  # a blank line ends a run of assignments
        last_line = node.end_lineno or node.lineno
        if isinstance(node, ast.Assign):
            pending += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            pending.append(node.target.id)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and pending:
            if isinstance(node.value.value, str):
                docs.update(dict.fromkeys(pending, inspect.cleandoc(node.value.value)))
            pending = []
        else:
            pending = []
    return docs


def _imported(module: ModuleType) -> dict[str, str]:
    """Names the module takes from another one (`from x import NAME`, typing-only imports too):
    re-exports, listed with a link to their home instead of a second copy of their reference."""
    tree = _module_tree(module)
    found: dict[str, str] = {}
    for node in ast.walk(tree) if tree else []:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    lazy = getattr(module, "_LAZY", None)  # i2i's lazily resolved exports
    if isinstance(lazy, dict):
        found.update({k: v for k, v in lazy.items() if isinstance(v, str)})
    return found


def _public_names(module: ModuleType, constant_docs: dict[str, str]) -> list[str]:
    explicit = getattr(module, "__all__", None)
    if explicit is not None:
        return [n for n in explicit if not n.startswith("__")]
    names = []
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if getattr(value, "__module__", None) == module.__name__:
                names.append(name)
        elif name in constant_docs:
            names.append(name)
    return names


def _value(module_name: str, name: str) -> Any:
    """The attribute, resolving lazy exports (i2i's `__getattr__`)."""
    return getattr(importlib.import_module(module_name), name)


def _render_constant(name: str, value: Any, doc: str | None) -> list[str]:
    if isinstance(value, (set, frozenset)):  # a set's repr follows string hashing: sort it
        text = _clean(f"{type(value).__name__}({{{', '.join(sorted(map(repr, value)))}}})")
    else:
        text = _clean(repr(value))
    if len(text) > 100:
        text = text[:97] + "..."
    lines = [f"#### `{name} = {text}`", ""]
    if doc:
        lines += [doc, ""]
    return lines


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties a class defines itself, in source order."""
    out = []
    for name, value in cls.__dict__.items():
        if name.startswith("_") and name != "__call__":
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            out.append((name, value))
    return out


PUBLIC_HOMES = {"torch.nn.modules.module": "torch.nn", "torch.utils.data.dataset": "torch.utils.data"}


def _qualified(cls: type) -> str:
    home = PUBLIC_HOMES.get(cls.__module__, cls.__module__)
    return cls.__qualname__ if home.startswith("i2i") or home == "builtins" else f"{home}.{cls.__qualname__}"


def _render_class(name: str, cls: type) -> list[str]:
    lines = [f"#### class `{_signature(cls, name)}`", ""]
    bases = [_qualified(b) for b in cls.__bases__ if b is not object]
    if bases:
        lines += [f"Bases: {', '.join(f'`{b}`' for b in bases)}", ""]
    lines += [_own_doc(cls) or "*(no docstring)*", ""]
    if dataclasses.is_dataclass(cls):
        fields = ", ".join(f"`{f.name}`" for f in dataclasses.fields(cls))
        lines += [f"Fields: {fields}", ""]
    for member, value in _members(cls):
        if isinstance(value, property):
            head = f"- property `{member}`"
            doc = _own_doc(value.fget) if value.fget else None
        else:
            head = f"- `{_signature(value, member)}`"
            doc = _own_doc(value)
        if doc:
            lines.append(head + ": " + textwrap.indent(doc, "  ").lstrip())
        else:
            lines.append(head)
    if _members(cls):
        lines.append("")
    return lines


def _summary(value: Any) -> str:
    first = (_own_doc(value) or "").split("\n\n")[0].replace("\n", " ") if callable(value) else ""
    return f": {first}" if first else ""


def render_module(module_name: str, purpose: str) -> list[str]:
    module = importlib.import_module(module_name)
    lines = [f"## `{module_name}`: {purpose}", "", _doc(module), ""]
    constant_docs = _constant_docs(module)
    imported = _imported(module)
    listed = {m for m, _ in MODULES}
    for name in _public_names(module, constant_docs):
        value = _value(module_name, name)
        home = imported.get(name)
        if home is None and (inspect.isclass(value) or inspect.isfunction(value)):
            home = value.__module__
        if home and home != module_name:
            where = f"[`{home}`](#{_anchor(home)})" if home in listed else f"`{home}`"
            lines.append(f"- `{name}` from {where}{_summary(value)}")
            continue
        if lines[-1] != "":
            lines.append("")  # a heading after a list of re-exports
        if inspect.isclass(value):
            lines += _render_class(name, value)
        elif callable(value):
            lines += [f"#### `{_signature(value, name)}`", "", _doc(value), ""]
        else:
            lines += _render_constant(name, value, constant_docs.get(name))
    if lines[-1] != "":
        lines.append("")
    return lines


def render() -> str:
    lines = [HEADER, "## Contents", ""]
    lines += [f"- [`{m}`](#{_anchor(m)}): {purpose}" for m, purpose in MODULES]
    lines.append("")
    for module_name, purpose in MODULES:
        lines += render_module(module_name, purpose)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare with the committed page")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run python scripts/gen_reference.py", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
