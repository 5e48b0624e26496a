"""humanoid_data: an ament_python package that is also pip-installable."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'humanoid_data'

ROS = [
    'ros-rclpy', 'ros-sensor-msgs', 'ros-std-msgs', 'ros-geometry-msgs', 'ros-std-srvs',
    'ros-diagnostic-msgs', 'ros-rmw-fastrtps-cpp',
]

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test', 'test.*', 'bench']),
    # The review workbench's page: served from the installed package (no CDN, no build).
    package_data={f'{PACKAGE}.review': ['static/*.html', 'static/*.js', 'static/*.css']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE}/config', glob('config/*.yaml') + glob('config/*.xml')
         + glob('config/*.urdf')),
    ],
    python_requires='>=3.10',
    install_requires=[
        'setuptools',
        'numpy>=1.24',
        'scipy>=1.10',
        'pyyaml>=6',
        'rosbags>=0.10',
        'mcap>=1.1',
        'opencv-python>=4.8',
        'psutil>=5.9',
        'rich>=13',
        'pyarrow>=14',
        'av>=15',
        'h5py>=3.8',
        'open3d>=0.18',
        'scikit-learn>=1.3',
        'statsmodels>=0.14',
        'krippendorff>=0.6',
        'matplotlib>=3.7',
        'starlette>=0.40',
        'uvicorn>=0.30',
    ],
    extras_require={
        'ros': ROS,
        # robomimic itself loading the HDF5 export (test/dataset/test_robomimic.py), with torch.
        'robomimic': ['robomimic==0.3.0', 'torch'],
        # convert --ray: one task per episode on a Ray cluster (the tests start a local one).
        'cluster': ['ray>=2.9'],
        'test': ['pytest>=7', 'hypothesis>=6', 'pexpect>=4.8', 'flake8>=6', 'pydocstyle>=6',
                 'ros-ament-flake8', 'ros-ament-pep257', 'mypy>=1.10', 'types-PyYAML',
                 'httpx>=0.27', 'selenium>=4.20'],
    },
    zip_safe=False,   # the page's files are served from the package folder
    maintainer='humanoid_data maintainers',
    maintainer_email='maintainers@humanoid-data.invalid',
    description='Record teleoperated humanoid demonstrations and convert them to datasets.',
    license='Apache-2.0',
    tests_require=['pytest'],
    entry_points={
        'console_scripts': [
            'humanoid-data = humanoid_data.cli.main:main',
            'sim_robot = humanoid_data.nodes.sim_robot:main',
            'recorder = humanoid_data.nodes.recorder:main',
            'contact_monitor = humanoid_data.nodes.contact_monitor:main',
            'sync_monitor = humanoid_data.nodes.sync_monitor:main',
            'marker_teleop = humanoid_data.nodes.marker_teleop:main',
        ],
    },
)
