"""Which tunnel protocols a demand-dial interface dials, in order (SPEC §5, decision 0125). Pure.

`automatic` tries L2TP/IPsec first, then PPTP, as the RRAS client does. Plain L2TP is not L2TP/IPsec (Windows never
falls back to it), so until this engine has IPsec, `automatic` dials PPTP only; `l2tp` dials plain L2TP (decision
0070) and `pptp` PPTP. The flag below flips when the IPsec driver lands.
"""

from __future__ import annotations

L2TP_IPSEC_AVAILABLE = False
AUTOMATIC = "L2TP/IPsec when available, else PPTP; today PPTP only (this engine has no IPsec yet)"


def protocols(dd_type: str, *, ipsec: bool = L2TP_IPSEC_AVAILABLE) -> list[str]:
    """The engine drivers to try for an interface of DD_TYPE, first to last."""
    if dd_type == "automatic":
        return (["l2tp"] if ipsec else []) + ["pptp"]
    return [dd_type]
