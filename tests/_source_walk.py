"""Which attributes of a host library's objects (verl, pebble) a source file reads, writes, calls or wraps: the AST
walk behind the touchpoint tests (tests/test_layers.py for verl, tests/test_bounded.py for pebble).

An object counts as the host's when the walk can tell without running the code:

1. a name bound by an import from a host package (`from verl.x import Y`, `import transfer_queue as tq`), or by
   `touchpoints.resolve(MODULE[, ATTR])` with literal (or `touchpoints.CONSTANT`) arguments;
2. `self` in the methods of a class whose base is such a name: an attribute the host class has (a class attribute,
   or `self.<name>` in the source of a host class of its MRO, or a dataclass field) is the host's, the others are
   ours; a method our class defines that the host class has is an override (we implement verl's interface);
3. a parameter or variable annotated with a host class (`data: DataProto`, `pool: ProcessPool = ...`,
   `self.config: RolloutConfig = ...`, the annotated `self.<attr>` counting in the whole class), or the result of a
   call of one of our functions or methods whose return annotation is a host class (`self._get().schedule`);
4. an object a hook receives from the host, declared in `received` ({"module:function.qualname": {name: owner}}),
   e.g. the trainer a wrapper of `PPOTrainer._compute_metrics` receives as `self`;
5. a name assigned from an attribute chain of one of these (`cls = module.PPOTrainer`, tuple assignments included),
   or an instance made without its constructor (`client = object.__new__(RewardLoopWorker)`), within the same
   function.

The attribute chain used on such an object (`trainer.config.actor_rollout_ref`, `getattr(trainer, "ref_policy_wg")`;
a subscript or a call ends it) is reported with the object's owner ("module:Qualified.path"). Names r1-recipe adds
to host objects start with `r1_`, `_r1_` or `__r1_` and are not reported.

Limits: no type inference beyond these rules. A value returned by a host call (other than rule 1's and those declared
in `received`), an element of a host container (`group[0].pool`), or a host object passed through our own data
structures is not followed; the pebble test keeps its check of every private (underscored) attribute for that
reason. Dynamic names (`getattr(obj, variable)`) are not seen, nor are the keyword arguments of a call into the host
(a renamed one raises TypeError at that call: `r1-recipe run`'s validation or the first step shows it).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

OURS = re.compile(r"_{0,2}r1_")


@dataclasses.dataclass(frozen=True)
class Use:
    owner: str        # "module:Path" ("module:" for a module)
    chain: tuple      # attributes used on it, outermost last
    line: int

    @property
    def name(self) -> str:
        module, _, path = self.owner.partition(":")
        return f"{module}:{'.'.join(p for p in (path, *self.chain) if p)}"


def _owner_of_import(module: str, name: str | None, is_module) -> str:
    if name is None:
        return f"{module}:"
    full = f"{module}.{name}"
    return f"{full}:" if is_module(full) else f"{module}:{name}"


def host_attr(owner: str, attr: str) -> bool:
    """Whether the host object `owner` ("module:Class") has `attr` (a class attribute, or one its instances get:
    touchpoints.instance_attribute)."""
    from r1_recipe.verl.touchpoints import instance_attribute

    module, _, path = owner.partition(":")
    obj = importlib.import_module(module)
    for part in path.split(".") if path else ():
        obj = getattr(obj, part)
    return hasattr(obj, attr) or (inspect.isclass(obj) and instance_attribute(obj, attr))


class _Walker:
    def __init__(self, tree: ast.Module, modname: str, packages: tuple[str, ...], received: dict, constants: dict,
                 is_module):
        self.tree, self.modname, self.packages = tree, modname, packages
        self.received, self.constants, self.is_module = received, constants, is_module
        self.uses: list[Use] = []
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                child.parent = node

    def host(self, module: str) -> bool:
        return module.split(".")[0] in self.packages

    def imports(self, body) -> dict:
        """name -> (owner, prefix chain) for the imports of host packages directly in `body` (not nested defs)."""
        out = {}
        for node in _shallow(body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self.host(alias.name):
                        local = alias.asname or alias.name.split(".")[0]
                        out[local] = (_owner_of_import(alias.name if alias.asname else alias.name.split(".")[0],
                                                       None, self.is_module), ())
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and self.host(node.module):
                for alias in node.names:
                    out[alias.asname or alias.name] = (_owner_of_import(node.module, alias.name, self.is_module), ())
        return out

    def annotation_owner(self, annotation, names: dict):
        """The owner of a host class an annotation names (`X`, `X | None`, `Optional[X]`, `"X"`; not `list[X]`)."""
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return self.annotation_owner(annotation.left, names) or self.annotation_owner(annotation.right, names)
        if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) and \
                annotation.value.id == "Optional":
            return self.annotation_owner(annotation.slice, names)
        if isinstance(annotation, ast.Name) and annotation.id in names and not names[annotation.id][1]:
            return names[annotation.id]
        return None

    def returns(self, body, names: dict) -> dict:
        """function name -> owner of the host class its return annotation names, for the defs directly in `body`."""
        out = {}
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                owner = self.annotation_owner(node.returns, names)
                if owner:
                    out[node.name] = owner
        return out

    def run(self) -> list[Use]:
        names = self.imports(self.tree.body)
        self.module_returns = self.returns(self.tree.body, names)
        self.scope(self.tree.body, names, qual=(), cls=None)
        return self.uses

    # ---- scopes
    def scope(self, body, names: dict, qual: tuple, cls):
        names = {**names, **self.imports(body)}
        self.aliases(body, names)
        for node in _shallow(body):
            if isinstance(node, ast.ClassDef):
                self.klass(node, names, qual)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(node, names, qual, cls)
            else:
                self.collect(node, names)

    def klass(self, node: ast.ClassDef, names: dict, qual: tuple):
        base = next((names[b.id] for b in node.bases if isinstance(b, ast.Name) and b.id in names), None)
        base_owner = _join(*base) if base else None
        annotated = {}  # self.<attr>: HostClass anywhere in the class
        for sub in ast.walk(node):
            if isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Attribute) and \
                    isinstance(sub.target.value, ast.Name) and sub.target.value.id == "self":
                owner = self.annotation_owner(sub.annotation, {**names, **self.imports(_all_imports(node))})
                if owner:
                    annotated[sub.target.attr] = owner
        returns = self.returns(node.body, {**names, **self.imports(_all_imports(node))})
        if base_owner:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and not OURS.match(item.name) and \
                        not item.name.startswith("__") and host_attr(base_owner, item.name):
                    self.uses.append(Use(base_owner, (item.name,), item.lineno))
        self.scope(node.body, names, qual + (node.name,), (base_owner, annotated, returns))

    def function(self, node, names: dict, qual: tuple, cls):
        qual = qual + (node.name,)
        names = dict(names)
        args = node.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        for p in params:  # a parameter shadows an outer name
            names.pop(p.arg, None)
        for p in params:
            owner = self.annotation_owner(p.annotation, names)
            if owner:
                names[p.arg] = owner
        for p, owner in self.received.get(f"{self.modname}:{'.'.join(qual)}", {}).items():
            names[p] = (owner, ())
        if cls is not None and params and params[0].arg == "self" and "self" not in names:
            names["self"] = ("__self__", cls)
        self.scope(node.body, names, qual, None)

    def aliases(self, body, names: dict):
        """Rule 5 (and `touchpoints.resolve`), in statement order within the scope."""
        for node in _shallow(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                owner = self.annotation_owner(node.annotation, names)
                if owner:
                    names[node.target.id] = owner
                continue
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target, value = node.targets[0], node.value
            pairs = zip(target.elts, value.elts, strict=False) if isinstance(target, ast.Tuple) and \
                isinstance(value, ast.Tuple) else [(target, value)]
            for t, v in pairs:
                if not isinstance(t, ast.Name):
                    continue
                owner = self.resolved(v) or self.new_instance(v, names) or self.chain_owner(v, names)
                if owner:
                    names[t.id] = owner

    def resolved(self, value):
        """`touchpoints.resolve(MODULE[, ATTR])` -> (owner, ())."""
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "resolve"
                and isinstance(value.func.value, ast.Name) and value.func.value.id == "touchpoints"):
            return None
        parts = [self.literal(a) for a in value.args]
        if not parts or None in parts:
            return None
        return (f"{parts[0]}:{parts[1] if len(parts) > 1 else ''}", ())

    def new_instance(self, value, names):
        """`object.__new__(HostClass)` -> (owner of HostClass, ())."""
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "__new__" and \
                isinstance(value.func.value, ast.Name) and value.func.value.id == "object" and value.args:
            return self.chain_owner(value.args[0], names)
        return None

    def literal(self, node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "touchpoints":
            return self.constants.get(node.attr)
        return None

    def chain_owner(self, node, names):
        """(owner, chain) when `node` is a host name or an attribute chain on one (no call, no subscript)."""
        chain = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Call):  # our function or method whose return annotation is a host class
            func = node.func
            if isinstance(func, ast.Name) and func.id in self.module_returns:
                owner, prefix = self.module_returns[func.id]
                return owner, (*prefix, *chain)
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self" and \
                    names.get("self", ("",))[0] == "__self__" and func.attr in names["self"][1][2]:
                owner, prefix = names["self"][1][2][func.attr]
                return owner, (*prefix, *chain)
            return None
        if not isinstance(node, ast.Name) or node.id not in names:
            return None
        owner, prefix = names[node.id]
        if owner == "__self__":
            base_owner, annotated, _ = prefix
            if chain and chain[0] in annotated:
                return annotated[chain[0]][0], (*annotated[chain[0]][1], *chain[1:])
            if base_owner and chain and host_attr(base_owner, chain[0]):
                return base_owner, tuple(chain)
            return None
        return owner, (*prefix, *chain)

    def collect(self, sub, names):
        """One node (not its children: `_shallow` yields them)."""
        if isinstance(sub, ast.Attribute) and not isinstance(getattr(sub, "parent", None), ast.Attribute):
            found = self.chain_owner(sub, names)
            if found and found[1]:
                self.report(found, sub.lineno)
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and \
                sub.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(sub.args) >= 2:
            attr = self.literal(sub.args[1])
            found = self.chain_owner(sub.args[0], names) if attr else None
            if found:
                self.report((found[0], (*found[1], attr)), sub.lineno)

    def report(self, found, line):
        owner, chain = found
        chain = tuple(chain)
        cut = next((i for i, a in enumerate(chain) if OURS.match(a)), len(chain))
        if cut:
            self.uses.append(Use(owner, chain[:cut], line))


def _join(owner: str, chain: tuple) -> str:
    module, _, path = owner.partition(":")
    return f"{module}:{'.'.join(p for p in (path, *chain) if p)}"


def _shallow(body):
    """Every node of `body`, not descending into nested function or class bodies (their own scopes)."""
    todo = list(body)
    while todo:
        node = todo.pop(0)
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            todo.extend(ast.iter_child_nodes(node))


def _all_imports(node) -> list:
    return [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]


def host_uses(path: Path, modname: str, packages: tuple[str, ...], received: dict | None = None,
              constants: dict | None = None, is_module=lambda name: False) -> list[Use]:
    """Every use of a host object's attributes in the file at `path` (module `modname`), by the rules above."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return _Walker(tree, modname, packages, received or {}, constants or {}, is_module).run()
