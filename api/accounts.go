package api

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/chorus-dev/chorus/store"
)

type accounts struct{ s *Server }

func (a accounts) Routes() chi.Router {
	r := chi.NewRouter()
	r.Post("/", a.create)
	r.Get("/", a.list)
	return r
}

type accountJSON struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Role      string  `json:"role"`
	APIKey    string  `json:"api_key,omitempty"`
	CreatedAt *string `json:"created_at,omitempty"`
}

func (a accounts) create(w http.ResponseWriter, r *http.Request) {
	if !isAdmin(AccountFrom(r.Context())) {
		fail(w, http.StatusForbidden, "forbidden", "only the admin account creates accounts")
		return
	}
	var req struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if !decode(w, r, 64<<10, &req) {
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 100 {
		fail(w, http.StatusBadRequest, "bad_name", "\"name\" is required (1 to 100 characters)")
		return
	}
	role := store.Role(req.Role)
	if role != store.RoleDeveloper && role != store.RoleOperator {
		fail(w, http.StatusBadRequest, "bad_role", "\"role\" must be \"developer\" or \"operator\"")
		return
	}
	acct, key, err := a.s.cfg.Store.CreateAccount(r.Context(), req.Name, role)
	if err != nil {
		if isConflict(err) {
			fail(w, http.StatusConflict, "taken", "an account named "+req.Name+" exists")
			return
		}
		a.s.internal(w, "create account", err)
		return
	}
	writeJSON(w, http.StatusCreated, accountJSON{ID: acct.ID, Name: acct.Name, Role: string(acct.Role), APIKey: key, CreatedAt: ts(acct.CreatedAt)})
}

func (a accounts) list(w http.ResponseWriter, r *http.Request) {
	acct := AccountFrom(r.Context())
	if !isAdmin(acct) {
		writeJSON(w, http.StatusOK, []accountJSON{{ID: acct.ID, Name: acct.Name, Role: string(acct.Role), CreatedAt: ts(acct.CreatedAt)}})
		return
	}
	all, err := a.s.cfg.Store.ListAccounts(r.Context())
	if err != nil {
		a.s.internal(w, "list accounts", err)
		return
	}
	out := make([]accountJSON, 0, len(all))
	for _, x := range all {
		out = append(out, accountJSON{ID: x.ID, Name: x.Name, Role: string(x.Role), CreatedAt: ts(x.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, out)
}
