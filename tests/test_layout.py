"""The layout a learner meets: flow_code/ is the capstone, flow_code/kit/ the rest, the README lists each module."""

import ast
import re

from flow_code.kit.processes import REPO

FLOW_CODE = REPO / "flow_code"


def modules(folder) -> set[str]:
    return {path.name for path in folder.glob("*.py") if path.name != "__init__.py"}


def readme_block() -> str:
    section = (REPO / "README.md").read_text().split("## What is where")[1]
    return section.split("```")[1]


def test_the_readme_lists_every_module_and_no_other():
    block = readme_block()
    listed_top = set(re.findall(r"^  (\w+\.py) ", block, flags=re.MULTILINE))
    listed_kit = set(re.findall(r"^    (\w+\.py) ", block, flags=re.MULTILINE))
    assert listed_top == modules(FLOW_CODE)
    assert listed_kit == modules(FLOW_CODE / "kit")


def test_the_package_docstrings_name_every_module():
    for folder in (FLOW_CODE, FLOW_CODE / "kit"):
        docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()), clean=False)
        assert set(re.findall(r"^    (\w+\.py) ", docstring, flags=re.MULTILINE)) == modules(folder), folder


def test_the_capstone_imports_no_machinery():
    """Capstone modules import only each other, except what the main job and `serve` start: the demo shop, and
    (the main job) Prefect's temporary server launched before the capstone's imports."""
    for name in modules(FLOW_CODE):
        tree = ast.parse((FLOW_CODE / name).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        from_kit = {module for module in imported if module.startswith("flow_code.kit")}
        kit_names = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "flow_code.kit"
            for alias in node.names
        }
        allowed = {"demo_shop", "temporary_server"}
        assert from_kit <= {"flow_code.kit"} and kit_names <= allowed, (name, from_kit, kit_names)
