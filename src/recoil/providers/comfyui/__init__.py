"""ComfyUI: a workflow template per modality, sent to a pool of ComfyUI servers.

:mod:`~recoil.providers.comfyui.binding` fills a template from a request,
:mod:`~recoil.providers.comfyui.api` makes the HTTP calls to a server,
:mod:`~recoil.providers.comfyui.history` reads what its history and queue say of a
prompt, :mod:`~recoil.providers.comfyui.socket` follows a prompt's progress over the
server's websocket, and :mod:`~recoil.providers.comfyui.provider` is the adapter.
"""
