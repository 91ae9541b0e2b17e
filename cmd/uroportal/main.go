package main

import (
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "golang.org/x/term"
	_ "modernc.org/sqlite"
	_ "github.com/google/uuid"
	_ "github.com/schollz/progressbar/v3"
)

func main() {}
