"""Build script: an ament_python package that also installs with plain pip."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'rt_async_control'


def tree(directory: str) -> list[tuple[str, list[str]]]:
    """Map every file under ``directory`` to ``share/<pkg>/<directory>/...``."""
    entries = []
    for root, _dirs, files in os.walk(directory):
        paths = [os.path.join(root, f) for f in sorted(files) if not f.startswith('.')]
        if paths:
            entries.append((os.path.join('share', package_name, root), paths))
    return entries


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', glob('launch/*_launch.py')),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        ('share/' + package_name + '/config/ros2_control', glob('config/ros2_control/*.yaml')),
        *tree('sim'),
        *tree('models'),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy>=1.24',
        'pyyaml>=6.0',
        'mujoco>=3.1',
        'onnx>=1.15',
        'rich>=13',
        'matplotlib>=3.7',
        'mcap>=1.1',
        'mcap-ros2-support>=0.5',
        'iceoryx2>=0.7',
    ],
    extras_require={
        'train': ['torch>=2.2', 'onnxscript>=0.1'],
        # Exactly one ONNX Runtime build: both provide the `onnxruntime` module and must never
        # share an environment, so neither is a base requirement.
        'cpu': ['onnxruntime>=1.17'],
        'gpu': ['onnxruntime-gpu>=1.17'],
        # flake8 with ament_flake8's plugins and pydocstyle: test_lint.py runs them as the
        # ament tests do on ROS machines, so CI without ROS catches what colcon test would.
        'test': ['pytest>=7', 'hypothesis>=6', 'ruff>=0.4', 'pytest-timeout>=2', 'flake8>=6',
                 'flake8-blind-except', 'flake8-builtins', 'flake8-class-newline',
                 'flake8-comprehensions', 'flake8-deprecated', 'flake8-docstrings',
                 'flake8-import-order', 'flake8-quotes', 'pydocstyle>=6'],
    },
    zip_safe=True,
    maintainer='rt_async_control maintainers',
    maintainer_email='maintainers@rt-async-control.invalid',
    description='Staggered asynchronous inference for realtime control with ROS 2.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'rt-async-control = rt_async_control.cli:main',
            'sim_node = rt_async_control.nodes.sim_node:main',
            'inference_node = rt_async_control.nodes.inference_node:main',
            'arbiter_node = rt_async_control.nodes.arbiter_node:main',
        ],
    },
)
