"""natjax: Neural Architecture Transformer (NAT, NAT++) in JAX/Flax."""

import setuptools

# Pinned together and tested on Python 3.11 (jax 0.10.2 and flax 0.12.8 are the newest there).
INSTALL_REQUIRES = [
    "jax==0.10.2",
    "jaxlib==0.10.2",
    "flax==0.12.8",
    "optax==0.2.8",
    "chex==0.1.92",
    "ml-collections==1.1.0",
    "orbax-checkpoint==0.12.8",
    "tensorflow-datasets==4.9.10",
    "importlib_resources",  # imported by tensorflow-datasets 4.9.10 without being declared
    "array-record==0.8.6",  # tfds random access without TensorFlow
    "pillow==13.0.0",  # image decoding and resizing on the host
    "scikit-learn==1.9.1",  # the offline 'digits' dataset
    "numpy>=2.0,<3",
    "matplotlib==3.11.2",
    "tqdm>=4.66",
    "tensorboardX==2.6.4",  # TensorBoard scalars without TensorFlow
]

setuptools.setup(
    name="natjax",
    version="0.1.0",
    description="Neural Architecture Transformer (NAT, NAT++) in JAX/Flax",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.12",
    packages=setuptools.find_packages(include=["natjax", "natjax.*"]),
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest==9.2.0", "pytest-xdist==3.8.0", "scipy>=1.11"]},
    entry_points={"console_scripts": ["natjax=natjax.cli:main"]},
)
