"""The agent sidebar's native ES modules (webapp/static/js/sidebar/) fit together without a bundler.

Read as text, no browser: every relative import names a file that exists and names only what that file exports,
the modules import each other without a cycle, none of them puts anything on `window`, and the pages load an entry
module that exists, as type="module" from Flask's static route with a JavaScript MIME type (browsers refuse a module
served as anything else, and the app sends `nosniff`).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "webapp" / "static"
MODULES = STATIC / "js" / "sidebar"
TEMPLATES = ROOT / "webapp" / "templates" / "agent"
JS_MIME = {"text/javascript", "application/javascript", "application/x-javascript"}

BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
LINE_COMMENT = re.compile(r"(^|[\s;{}(),])//[^\n]*")
# every static import or re-export that names a module: `import ... from 'x'`, `import 'x'`, `export ... from 'x'`
ANY_IMPORT = re.compile(r"^\s*(?:import\s*(?:[^;'\"]*?\bfrom\s*)?|export\s*[^;'\"]*?\bfrom\s*)['\"]([^'\"]+)['\"]",
                        re.M)
NAMED_IMPORT = re.compile(r"^\s*import\s*\{([^}]*)\}\s*from\s*['\"](\./[\w-]+\.js)['\"]\s*;", re.M)
EXPORT_DECLARATION = re.compile(r"^\s*export\s+(?:async\s+)?(?:function\s*\*?|const|let|var|class)\s+([\w$]+)",
                                re.M)
EXPORT_LIST = re.compile(r"^\s*export\s*\{([^}]*)\}", re.M)
DYNAMIC_IMPORT = re.compile(r"\bimport\s*\(")
GLOBAL_WRITE = re.compile(r"\b(?:window|globalThis|self)\s*(?:\.\s*[\w$]+|\[[^\]]+\])+\s*"
                          r"(?:[-+*/%&|^]|\*\*|<<|>>>?|&&|\|\||\?\?)?=(?!=)")
GLOBAL_DEFINE = re.compile(r"\bObject\.(?:assign|defineProperty|defineProperties)\(\s*(?:window|globalThis|self)\b")


def code_of_text(text: str) -> str:
    """The text without comments (a commented-out import or export does not count)."""
    return LINE_COMMENT.sub(r"\1", BLOCK_COMMENT.sub(" ", text))


def code_of(path: Path) -> str:
    return code_of_text(path.read_text(encoding="utf-8"))


def names(listing: str, side: int) -> set[str]:
    """Names from `{a, b as c}`: side 0 is the name in the exporting module, side 1 the local one."""
    out = set()
    for part in listing.split(","):
        part = part.strip()
        if part:
            pieces = re.split(r"\s+as\s+", part)
            out.add(pieces[side if len(pieces) > 1 else 0])
    return out


def exports_of(code: str) -> set[str]:
    found = set(EXPORT_DECLARATION.findall(code))
    for listing in EXPORT_LIST.findall(code):
        found |= names(listing, 1)
    return found


def imports_of(code: str) -> dict[str, set[str]]:
    """{'./x.js': names imported from it}; only named imports of sibling modules are allowed."""
    named = NAMED_IMPORT.findall(code)
    specifiers = ANY_IMPORT.findall(code)
    assert len(specifiers) == len(named), (
        f"only `import {{a, b}} from './x.js';` is checked here, found {specifiers} ({len(named)} named)")
    out: dict[str, set[str]] = {}
    for listing, target in named:
        out.setdefault(target, set()).update(names(listing, 0))
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def modules() -> dict[str, str]:
    files = sorted(MODULES.glob("*.js"))
    assert files, f"no modules in {MODULES}"
    return {path.name: code_of(path) for path in files}


def test_every_import_names_an_existing_export():
    code = modules()
    exports = {name: exports_of(text) for name, text in code.items()}
    for name, text in code.items():
        assert not DYNAMIC_IMPORT.search(text), f"{name}: dynamic import() is not checked here"
        for target, imported in imports_of(text).items():
            file = target.removeprefix("./")
            assert file in code, f"{name} imports {target}, which does not exist in {MODULES}"
            missing = imported - exports[file]
            assert not missing, f"{name} imports {sorted(missing)} from {target}, which does not export them"


def test_modules_import_each_other_without_a_cycle():
    graph = {name: {target.removeprefix("./") for target in imports_of(text)} for name, text in modules().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_no_module_writes_to_window():
    for name, text in modules().items():
        for pattern in (GLOBAL_WRITE, GLOBAL_DEFINE):
            found = pattern.search(text)
            assert not found, f"{name} writes a global: {found.group(0)!r} (export it instead)"


def test_checks_catch_what_they_are_for():
    """The parsers above, on made-up modules: a missing export, a cycle and a global are all seen."""
    text = "import { a, b as c } from './x.js';\nexport function f() {}\nexport const g = 1;\nexport { h as i };\n"
    assert imports_of(text) == {"./x.js": {"a", "b"}}
    assert exports_of(text) == {"f", "g", "i"}
    assert exports_of(code_of_text("// export function gone() {}\n/* export const nor = 1; */")) == set()
    with pytest.raises(AssertionError):
        imports_of("import * as x from './x.js';")
    with pytest.raises(AssertionError):
        imports_of("import './x.js';")
    assert imports_of("export function f() { return 'not an import'; }\nexport const s = 'nor this';\n") == {}
    assert find_cycle({"a.js": {"b.js"}, "b.js": {"c.js"}, "c.js": {"a.js"}}) == ["a.js", "b.js", "c.js", "a.js"]
    assert find_cycle({"a.js": {"b.js"}, "b.js": set(), "c.js": {"a.js", "b.js"}}) is None
    for bad in ("window.sidebar = {};", "window['x'] = 1;", "window.a.b += 1;", "globalThis.y = 2;",
                "Object.assign(window, { z: 1 });"):
        assert GLOBAL_WRITE.search(bad) or GLOBAL_DEFINE.search(bad), bad
    for fine in ("window.location.search", "if (window.x === 1) {}", "window.addEventListener('online', f);"):
        assert not (GLOBAL_WRITE.search(fine) or GLOBAL_DEFINE.search(fine)), fine


@pytest.mark.parametrize("template", ["sidebar.html", "article.html"])
def test_pages_load_an_existing_entry_module(template):
    html = (TEMPLATES / template).read_text(encoding="utf-8")
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts, template
    for attributes in scripts:
        assert 'type="module"' in attributes, f"{template}: {attributes} is not loaded as a module"
        src = re.search(r"filename='([^']+)'", attributes)
        assert src and (STATIC / src.group(1)).is_file(), f"{template}: {attributes} names no existing file"
        assert src.group(1).startswith("js/sidebar/"), src.group(1)
    assert "js/sidebar.js" not in html


def test_static_route_serves_modules_as_javascript():
    """The app serves static files through Flask's own static route (webapp/__init__.py adds none of its own)."""
    from flask import Flask

    app = Flask("webapp", static_folder=str(STATIC))
    client = app.test_client()
    for path in sorted(MODULES.glob("*.js")):
        response = client.get(f"/static/js/sidebar/{path.name}")
        assert response.status_code == 200, path.name
        assert response.mimetype in JS_MIME, f"{path.name} served as {response.mimetype}"
        response.close()
