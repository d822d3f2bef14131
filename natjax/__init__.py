"""natjax: Neural Architecture Transformer (NAT and NAT++) in JAX.

Public entry points: `natjax.arch` (architectures as arrays, genotype I/O), `natjax.spaces`
(search spaces and the input sampler), `natjax.transitions` (transition rules and masks),
`natjax.costs` (params and MAdds), `natjax.viz` (drawing cells), and the `natjax` command line.
"""

__version__ = "0.1.0"
