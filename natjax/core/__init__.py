"""The method's data and rules, free of networks and files: op families and ops, search spaces,
architectures as arrays, the input sampler, transition rules, the macro plan and the cost model."""
