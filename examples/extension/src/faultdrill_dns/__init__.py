"""faultdrill-dns: a DNS override fault kind and a resolved-hosts sampler (an example extension)."""
