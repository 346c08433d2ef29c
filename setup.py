"""Maps hub/, training/ and nodes/ (root folders, the user's layout) under the mmrealsr_plugin namespace.

Everything else about the package is in pyproject.toml; only this mapping needs code, because the
subpackages of each folder must be listed.
"""

from setuptools import find_packages, setup

MAPPED = {"mmrealsr_plugin.hub": "hub", "mmrealsr_plugin.training": "training", "mmrealsr_plugin.nodes": "nodes"}

packages = find_packages(include=["mmrealsr_plugin", "mmrealsr_plugin.*"])
package_dir = {"mmrealsr_plugin": "mmrealsr_plugin"}
for name, folder in MAPPED.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
