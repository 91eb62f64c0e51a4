# The sbx cluster on Nomad (docs/cluster.md, "Deploy on Nomad"): `nomad job run deploy/nomad/sbx.nomad.hcl`
# runs the control plane; `nomad job run deploy/nomad/sbx-node.nomad.hcl` one node daemon on every
# client with meta sbx_node = "true". Secrets come from Nomad Variables (never the job file):
#   nomad var put nomad/jobs/sbx store='postgres://sbx:PASSWORD@db.internal:5432/sbx' cluster_secret="$(openssl rand -hex 32)" \
#     registry_ca="$(cat registry-ca.crt)" registry_auth='sbx:REGISTRY-PASSWORD'
# The control plane: stateless replicas on one PostgreSQL; clients and nodes reach any of them
# through the Consul service `sbx-control` (sbx-control.service.consul, any healthy replica).
job "sbx" {
  type = "service"

  group "control" {
    count = 2

    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    network {
      port "api" {
        static = 7070
      }
    }

    service {
      name     = "sbx-control"
      port     = "api"
      provider = "consul"
      check {
        type     = "tcp"
        interval = "5s"
        timeout  = "2s"
      }
    }

    task "sbxd" {
      driver = "docker"

      config {
        image      = "ghcr.io/sbx-sh/sbxd:0.1.0"
        ports      = ["api"]
        privileged = true
        args = [
          "--role", "control",
          "--listen-tcp", "0.0.0.0:7070",
          "--node-lease", "15",
          "--warm-pool", "0",
          "--proxy-listen", "off",
          "--registry", "registry.internal:5000",
          "--registry-ca", "/secrets/registry-ca.crt",
          "--registry-auth-file", "/secrets/registry-auth"
        ]
      }

      template {
        destination = "secrets/control.env"
        env         = true
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sbx" }}
          SBX_STORE={{ .store }}
          SBX_CLUSTER_SECRET={{ .cluster_secret }}
          {{ end }}
        EOT
      }

      # The cluster registry's CA and credentials (user:password or a bearer token), files only sbxd reads.
      template {
        destination = "secrets/registry-ca.crt"
        perms       = "0400"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sbx" }}{{ .registry_ca }}{{ end }}
        EOT
      }

      template {
        destination = "secrets/registry-auth"
        perms       = "0400"
        data        = <<-EOT
          {{ with nomadVar "nomad/jobs/sbx" }}{{ .registry_auth }}{{ end }}
        EOT
      }

      resources {
        cpu    = 500
        memory = 512
      }
    }
  }
}
