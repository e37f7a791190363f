"""Ready packages in S3 (OVH or any S3-compatible store): upload, download, list, delete, validate."""
