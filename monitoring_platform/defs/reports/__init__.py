"""The reports site's index and the weekly digest, with the digest's schedule."""
