"""The four roles of the workspace, as Django groups (made by migration web 0002_roles).

The group names are what an administrator sees and assigns; the permissions of each group are
set by the migration, so that a fresh database has them without any manual step.
"""

SUPPORT = "Support-Team"
RELATIONSHIP_MANAGER = "Relationship Manager"
ADMINISTRATOR = "Administrator"
VENDOR = "Vendor"

ROLES = (SUPPORT, RELATIONSHIP_MANAGER, ADMINISTRATOR, VENDOR)
