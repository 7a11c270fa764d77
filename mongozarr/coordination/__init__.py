"""Many writers on one hierarchy: appends, leases, links between arrays, watching changes."""
