"""Where chunk bytes live: inline in MongoDB, in GridFS, or in an external store (S3)."""
