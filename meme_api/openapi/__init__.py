"""The OpenAPI 3.1 document (contract §8), built from what the views declare.

`metadata` holds the decorators views declare their answers with; `document` builds the document
from the URL map and those declarations; `components`, `queries` and `description` are its
shared parts.
"""
