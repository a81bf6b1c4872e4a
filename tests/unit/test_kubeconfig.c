// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "kubeconfig.h"

static char errbuf[1024];

static const char pem[] = "-----BEGIN CERTIFICATE-----\n"
			  "MIIBszCCAVmgAwIBAgIUQ2FmZWJhYmVkZWFkYmVlZjAKBggqhkjOPQQDAjAS\n"
			  "-----END CERTIFICATE-----\n";

static int parse(const char *text, const char *context, struct kubeconfig *kc)
{
	memset(kc, 0, sizeof(*kc));
	return kubeconfig_parse_string(text, strlen(text), "kc.yaml", "/etc/kube", context, kc,
				       errbuf, sizeof(errbuf));
}

/* A kubeconfig with the given cluster and user bodies (already indented by 4). */
static char *doc(const char *cluster_body, const char *user_body)
{
	return g_strdup_printf("apiVersion: v1\n"
			       "kind: Config\n"
			       "current-context: dev\n"
			       "clusters:\n"
			       "- name: kind\n"
			       "  cluster:\n"
			       "%s"
			       "contexts:\n"
			       "- name: dev\n"
			       "  context:\n"
			       "    cluster: kind\n"
			       "    user: admin\n"
			       "    namespace: default\n"
			       "users:\n"
			       "- name: admin\n"
			       "  user:\n"
			       "%s",
			       cluster_body, user_body);
}

static void assert_fails(const char *text, const char *want_in_error)
{
	struct kubeconfig kc;
	int rc = parse(text, NULL, &kc);

	cr_assert_eq(rc, -EINVAL, "parse should fail (got %d) for:\n%s", rc, text);
	cr_assert(strstr(errbuf, want_in_error), "error '%s' lacks '%s'", errbuf, want_in_error);
	cr_assert_null(kc.server, "ret_kc written on failure");
}

Test(kubeconfig, token_and_ca_data)
{
	g_autofree char *ca64 = g_base64_encode((const guchar *)pem, strlen(pem));
	g_autofree char *cl = g_strdup_printf("    server: https://127.0.0.1:6443/\n"
					      "    certificate-authority-data: %s\n",
					      ca64);
	g_autofree char *text = doc(cl, "    token: abc.def-ghi_123\n");
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://127.0.0.1:6443"); /* trailing '/' dropped */
	cr_assert_str_eq(kc.context, "dev");
	cr_assert_str_eq(kc.token, "abc.def-ghi_123");
	cr_assert_null(kc.token_file);
	cr_assert_null(kc.ca_file);
	cr_assert_eq(kc.ca_pem_bytes, strlen(pem));
	cr_assert_eq(memcmp(kc.ca_pem, pem, strlen(pem)), 0);
	cr_assert_eq(kc.ca_pem[kc.ca_pem_bytes], '\0');
	cr_assert_null(kc.cert_file);
	cr_assert_null(kc.cert_pem);
	cr_assert_null(kc.key_pem);
	kubeconfig_done(&kc);
	cr_assert_null(kc.server);
}

Test(kubeconfig, token_file_is_resolved_and_wins_over_token)
{
	g_autofree char *text = doc("    server: \"https://api.example.test\"\n"
				    "    certificate-authority: pki/ca.crt\n",
				    "    token: static\n"
				    "    tokenFile: secrets/token\n");
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://api.example.test");
	cr_assert_str_eq(kc.ca_file, "/etc/kube/pki/ca.crt");
	cr_assert_str_eq(kc.token_file, "/etc/kube/secrets/token");
	cr_assert_null(kc.token);
	kubeconfig_done(&kc);
}

Test(kubeconfig, client_certificate_data)
{
	static const char key[] = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n"
				  "-----END EC PRIVATE KEY-----\n";
	g_autofree char *c64 = g_base64_encode((const guchar *)pem, strlen(pem));
	g_autofree char *k64 = g_base64_encode((const guchar *)key, strlen(key));
	/* base64 wrapped over lines, as a YAML folded block: whitespace must be ignored */
	g_autofree char *k64a = g_strndup(k64, 20);
	g_autofree char *user = g_strdup_printf("    client-certificate-data: %s\n"
						"    client-key-data: >-\n"
						"      %s\n"
						"      %s\n",
						c64, k64a, k64 + 20);
	g_autofree char *text = doc("    server: https://10.0.0.1:6443\n", user);
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_eq(kc.cert_pem_bytes, strlen(pem));
	cr_assert_eq(memcmp(kc.cert_pem, pem, strlen(pem)), 0);
	cr_assert_eq(kc.key_pem_bytes, strlen(key));
	cr_assert_eq(memcmp(kc.key_pem, key, strlen(key)), 0);
	cr_assert_null(kc.token);
	cr_assert_null(kc.ca_file);
	cr_assert_null(kc.ca_pem); /* no CA: the system bundle, verification still on */
	kubeconfig_done(&kc);
}

Test(kubeconfig, client_certificate_files)
{
	g_autofree char *text = doc("    server: https://10.0.0.1:6443\n",
				    "    client-certificate: /abs/client.crt\n"
				    "    client-key: rel/client.key\n");
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_str_eq(kc.cert_file, "/abs/client.crt");
	cr_assert_str_eq(kc.key_file, "/etc/kube/rel/client.key");
	cr_assert_null(kc.cert_pem);
	kubeconfig_done(&kc);
}

Test(kubeconfig, chosen_context_and_flow_style)
{
	static const char text[] =
		"{apiVersion: v1, current-context: a,\n"
		" clusters: [{name: ca, cluster: {server: 'https://a:1'}},\n"
		"            {name: cb, cluster: {server: 'https://b:2'}}],\n"
		" contexts: [{name: a, context: {cluster: ca, user: ua}},\n"
		"            {name: b, context: {cluster: cb, user: ub}}],\n"
		" users: [{name: ua, user: {token: ta}}, {name: ub, user: {token: tb}}]}\n";
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://a:1");
	cr_assert_str_eq(kc.token, "ta");
	kubeconfig_done(&kc);
	cr_assert_eq(parse(text, "b", &kc), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://b:2");
	cr_assert_str_eq(kc.token, "tb");
	cr_assert_str_eq(kc.context, "b");
	kubeconfig_done(&kc);
}

Test(kubeconfig, user_without_credentials_is_anonymous)
{
	static const char text[] = "current-context: x\n"
				   "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
				   "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
				   "users: [{name: u}]\n";
	struct kubeconfig kc;

	cr_assert_eq(parse(text, NULL, &kc), 0, "%s", errbuf);
	cr_assert_null(kc.token);
	cr_assert_null(kc.token_file);
	cr_assert_null(kc.cert_pem);
	kubeconfig_done(&kc);
}

Test(kubeconfig, insecure_skip_tls_verify_is_refused)
{
	g_autofree char *text = doc("    server: https://10.0.0.1:6443\n"
				    "    insecure-skip-tls-verify: true\n",
				    "    token: t\n");
	g_autofree char *off = doc("    server: https://10.0.0.1:6443\n"
				   "    insecure-skip-tls-verify: false\n",
				   "    token: t\n");
	struct kubeconfig kc;

	assert_fails(text, "insecure-skip-tls-verify");
	cr_assert(strstr(errbuf, "kc.yaml: line 8:"), "no line in '%s'", errbuf);
	cr_assert(strstr(errbuf, "cluster 'kind'"), "no cluster in '%s'", errbuf);
	cr_assert_eq(parse(off, NULL, &kc), 0, "%s", errbuf);
	kubeconfig_done(&kc);
}

Test(kubeconfig, missing_and_conflicting_fields)
{
	g_autofree char *no_server = doc("    certificate-authority: ca.crt\n", "    token: t\n");
	g_autofree char *http = doc("    server: http://10.0.0.1:8080\n", "    token: t\n");
	g_autofree char *both_ca = doc("    server: https://h\n    certificate-authority: a\n"
				       "    certificate-authority-data: aGVsbG8=\n",
				       "    token: t\n");
	g_autofree char *cert_only = doc("    server: https://h\n", "    client-certificate: c\n");
	g_autofree char *key_only =
		doc("    server: https://h\n", "    client-key-data: aGVsbG8=\n");
	g_autofree char *exec = doc("    server: https://h\n", "    exec:\n      command: aws\n");
	g_autofree char *bad64 = doc("    server: https://h\n"
				     "    certificate-authority-data: not*base64\n",
				     "    token: t\n");
	g_autofree char *sni =
		doc("    server: https://h\n    tls-server-name: other\n", "    token: t\n");
	g_autofree char *server_map = doc("    server: {a: b}\n", "    token: t\n");
	g_autofree char *badbool = doc(
		"    server: https://h\n    insecure-skip-tls-verify: maybe\n", "    token: t\n");

	assert_fails(no_server, "no 'server'");
	assert_fails(http, "not an https:// URL");
	assert_fails(both_ca, "both 'certificate-authority' and 'certificate-authority-data'");
	assert_fails(cert_only, "needs both a certificate and a key");
	assert_fails(key_only, "needs both a certificate and a key");
	assert_fails(exec, "'exec' is not supported");
	assert_fails(bad64, "not valid base64");
	cr_assert(strstr(errbuf, "line 8:"), "%s", errbuf);
	assert_fails(sni, "tls-server-name is not supported");
	assert_fails(server_map, "'server' must be a string");
	assert_fails(badbool, "must be true or false");
}

Test(kubeconfig, missing_references)
{
	assert_fails("clusters: []\n", "no current-context");
	assert_fails("current-context: x\ncontexts: []\n", "context 'x' not found");
	assert_fails("current-context: x\ncontexts: [{name: x, context: {user: u}}]\n",
		     "names no cluster");
	assert_fails("current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n",
		     "cluster 'c' not found");
	assert_fails("current-context: x\n"
		     "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
		     "clusters: [{name: c, cluster: {server: 'https://h'}}]\n",
		     "user 'u' not found");
	assert_fails("current-context: x\ncontexts: {x: y}\n", "'contexts' must be a list");
}

Test(kubeconfig, malformed_yaml_reports_the_line)
{
	static const char text[] = "apiVersion: v1\n"
				   "clusters:\n"
				   "- name: c\n"
				   "  cluster:\n"
				   "    server: \"https://h\n"
				   "contexts: []\n";
	static const char tabs[] = "a: b\n"
				   "c:\n"
				   "\t- d\n";

	/* the stream ends inside the string: libyaml reports the end, and where it started */
	assert_fails(text, "kc.yaml: line 7 column 1: ");
	cr_assert(strstr(errbuf, "quoted scalar (started at line 5 column 13)"), "%s", errbuf);
	assert_fails(tabs, "kc.yaml: line 3 column");
	assert_fails("", "empty document");
	assert_fails("- a\n- b\n", "must be a mapping");
}

Test(kubeconfig, load_file_resolves_relative_to_its_directory)
{
	char dir[] = "/tmp/lf-kubeconfig-XXXXXX";
	g_autofree char *path = NULL;
	g_autofree char *text = doc("    server: https://h\n    certificate-authority: ca.pem\n",
				    "    tokenFile: ../t\n");
	struct kubeconfig kc = {0};

	cr_assert_not_null(mkdtemp(dir));
	path = g_strdup_printf("%s/config", dir);
	cr_assert(g_file_set_contents(path, text, -1, NULL));
	cr_assert_eq(kubeconfig_load_file(path, NULL, &kc, errbuf, sizeof(errbuf)), 0, "%s",
		     errbuf);
	g_autofree char *want_ca = g_strdup_printf("%s/ca.pem", dir);
	g_autofree char *want_tok = g_strdup_printf("%s/../t", dir);
	cr_assert_str_eq(kc.ca_file, want_ca);
	cr_assert_str_eq(kc.token_file, want_tok);
	kubeconfig_done(&kc);
	unlink(path);
	rmdir(dir);
	cr_assert_eq(kubeconfig_load_file(path, NULL, &kc, errbuf, sizeof(errbuf)), -ENOENT);
	cr_assert(strstr(errbuf, path), "%s", errbuf);
}

static void write_file(const char *dir, const char *name, const char *content)
{
	g_autofree char *p = g_strdup_printf("%s/%s", dir, name);

	cr_assert(g_file_set_contents(p, content, -1, NULL));
}

Test(kubeconfig, in_cluster)
{
	char dir[] = "/tmp/lf-sa-XXXXXX";
	struct kubeconfig kc = {0};

	cr_assert_not_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	write_file(dir, "token", "tok\n");
	write_file(dir, "ca.crt", pem);
	cr_assert_not(kubeconfig_in_cluster_available(dir));
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), -ENOENT);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	cr_assert(kubeconfig_in_cluster_available(dir));
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://10.96.0.1:443");
	g_autofree char *tok = g_strdup_printf("%s/token", dir);
	g_autofree char *ca = g_strdup_printf("%s/ca.crt", dir);
	cr_assert_str_eq(kc.token_file, tok);
	cr_assert_str_eq(kc.ca_file, ca);
	cr_assert_null(kc.token);
	kubeconfig_done(&kc);

	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_str_eq(kc.server, "https://[fd00:10:96::1]:443");
	kubeconfig_done(&kc);

	setenv("KUBERNETES_SERVICE_PORT", "44x", 1);
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), -EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBERNETES_SERVICE_HOST", "h/../x", 1);
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), -EINVAL);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);

	unlink(ca);
	cr_assert_eq(kubeconfig_in_cluster(dir, &kc, errbuf, sizeof(errbuf)), -ENOENT);
	cr_assert(strstr(errbuf, "ca.crt"), "%s", errbuf);
	unlink(tok);
	cr_assert_not(kubeconfig_in_cluster_available(dir));
	rmdir(dir);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

Test(kubeconfig, read_token)
{
	char dir[] = "/tmp/lf-tok-XXXXXX";
	g_autofree char *p = NULL;
	char *tok = NULL;

	cr_assert_not_null(mkdtemp(dir));
	p = g_strdup_printf("%s/token", dir);
	write_file(dir, "token", "  eyJhbGciOi.JSUzI1NiJ9-_x\n\n");
	cr_assert_eq(kubeconfig_read_token(p, &tok, errbuf, sizeof(errbuf)), 0, "%s", errbuf);
	cr_assert_str_eq(tok, "eyJhbGciOi.JSUzI1NiJ9-_x");
	free(tok);
	tok = NULL;
	write_file(dir, "token", " \n");
	cr_assert_eq(kubeconfig_read_token(p, &tok, errbuf, sizeof(errbuf)), -EINVAL);
	cr_assert_null(tok);
	write_file(dir, "token", "abc\r\nX-Injected: 1\n");
	cr_assert_eq(kubeconfig_read_token(p, &tok, errbuf, sizeof(errbuf)), -EINVAL);
	cr_assert(strstr(errbuf, "HTTP header"), "%s", errbuf);
	unlink(p);
	cr_assert_eq(kubeconfig_read_token(p, &tok, errbuf, sizeof(errbuf)), -ENOENT);
	rmdir(dir);
}

Test(kubeconfig, strict_base64)
{
	static const struct {
		const char *in;
		const char *out; /* NULL = refused */
	} cases[] = {
		{"aGVsbG8=", "hello"}, {"aGVsbG8", "hello"}, {"aGVs\n bG8=", "hello"},
		{"aGk=", "hi"},	       {"aGVsbG8=x", NULL},  {"a", NULL},
		{"@@@@", NULL},	       {"aGVsbG9=", NULL}, /* non-zero pad bits */
		{"aA===", NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		g_autofree char *cl = g_strdup_printf("    server: https://h\n"
						      "    certificate-authority-data: \"%s\"\n",
						      cases[i].in);
		g_autofree char *text = doc(cl, "    token: t\n");
		struct kubeconfig kc;
		int rc = parse(text, NULL, &kc);

		if (!cases[i].out) {
			cr_assert_eq(rc, -EINVAL, "'%s' accepted", cases[i].in);
			continue;
		}
		cr_assert_eq(rc, 0, "'%s': %s", cases[i].in, errbuf);
		cr_assert_eq(kc.ca_pem_bytes, strlen(cases[i].out), "'%s'", cases[i].in);
		cr_assert_str_eq(kc.ca_pem, cases[i].out);
		kubeconfig_done(&kc);
	}
}
