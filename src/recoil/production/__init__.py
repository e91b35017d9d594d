"""Productions: a project folder's shot list turned into takes, runs, reviews and exports."""
