"""Files: genotypes in every notation and the one resolver of architecture arguments, policy
export, run-directory JSON, drawings and retraining reports."""
