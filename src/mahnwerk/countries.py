"""The countries a buyer's address and the platform's default may name: ISO 3166-1 alpha-2.

From babel's territories (CLDR, already loaded for the screens' country names), without the
two-letter codes CLDR adds that ISO 3166-1 does not assign to a country: the European Union and
the euro area (EU, EZ), the United Nations (UN), "outlying Oceania" (QO), the unknown region
(ZZ), pseudo-locales (XA, XB), and the codes ISO only reserves for other bodies (AC, CP, CQ, DG,
EA, IC, TA). Kosovo's XK is kept: not assigned by ISO, it is the code the EU, the banks (its
IBANs) and the platforms use for it.
"""

from __future__ import annotations

from babel import Locale

NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB",
                           "AC", "CP", "CQ", "DG", "EA", "IC", "TA"})
COUNTRIES = frozenset(code for code in Locale("en").territories
                      if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES)
