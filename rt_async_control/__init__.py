"""rt_async_control: staggered asynchronous inference for realtime control."""

__version__ = '0.1.0'
