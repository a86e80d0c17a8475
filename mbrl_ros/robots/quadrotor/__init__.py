"""What every quadrotor robot shares: ``bridge`` and ``stand_in`` bases, ``interfaces`` (task <-> robot units)."""
