"""The package's shape: library code takes typed settings, never a script's argparse namespace."""
import ast
import glob
import os

from conftest import ROOT


def test_no_function_in_the_package_takes_args():
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "ernie_distill", "**", "*.py"), recursive=True):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
                if "args" in names:
                    offenders.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.name}")
    assert not offenders
