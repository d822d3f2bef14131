"""Networks: the weight-sharing supernet, the static network of one architecture, the stand-alone
(retraining) networks and the GCN policy."""
