"""`supplychain new-server <name>`: a new server with every protection the others have, from templates."""
