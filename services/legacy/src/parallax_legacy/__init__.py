"""The legacy implementation: procedural handlers over one mutable JSON document per aggregate."""
