//! Organizations, departments, persons, profiles, endpoints and endpoint
//! accounts: the directory the RA decides against. Each has a unique id and a
//! unique name (departments: unique per organization); lookups take either.

use serde::{de::DeserializeOwned, Serialize};

use super::model::{
    AuditEvent, Department, Endpoint, EndpointAccount, Organization, Person, Profile,
};
use super::tx::reject;
use super::{Result, Store, Table};

fn name_key(table: Table, name: &str) -> String {
    format!("name/{}/{}", table.name(), name.to_lowercase())
}

impl Store {
    fn create_named<T: Serialize>(
        &self,
        table: Table,
        kind: &'static str,
        id: &str,
        name: &str,
        record: &T,
        audit: &AuditEvent,
    ) -> Result<()> {
        let nk = name_key(table, name);
        self.transact(|tx| {
            if tx.get_raw(Table::Meta, nk.as_bytes())?.is_some() {
                return Err(reject(format!("{kind} named {name:?} already exists")));
            }
            tx.insert_new(table, id, record)?;
            tx.put_raw(Table::Meta, nk.as_bytes(), id.as_bytes())?;
            tx.audit(audit)?;
            Ok(())
        })
    }

    fn find_named<T: DeserializeOwned>(&self, table: Table, id_or_name: &str) -> Result<Option<T>> {
        if let Some(r) = self.get(table, id_or_name)? {
            return Ok(Some(r));
        }
        // name keys are written only in transactions: cacheable
        match self.get_cached(Table::Meta, name_key(table, id_or_name).as_bytes())? {
            Some(id) => self.get(table, &String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    pub fn create_organization(&self, org: &Organization, audit: &AuditEvent) -> Result<()> {
        self.create_named(
            Table::Organizations,
            "organization",
            &org.id,
            &org.name,
            org,
            audit,
        )
    }
    pub fn find_organization(&self, id_or_name: &str) -> Result<Option<Organization>> {
        self.find_named(Table::Organizations, id_or_name)
    }
    pub fn list_organizations(&self) -> Result<Vec<Organization>> {
        self.scan(Table::Organizations)
    }

    pub fn create_department(&self, dept: &Department, audit: &AuditEvent) -> Result<()> {
        let scoped = format!("{}/{}", dept.organization_id, dept.name);
        self.create_named(
            Table::Departments,
            "department",
            &dept.id,
            &scoped,
            dept,
            audit,
        )
    }
    /// Finds a department by id, or by name within `organization_id`.
    pub fn find_department(
        &self,
        organization_id: &str,
        id_or_name: &str,
    ) -> Result<Option<Department>> {
        if let Some(d) = self.get::<Department>(Table::Departments, id_or_name)? {
            return Ok(Some(d));
        }
        self.find_named(
            Table::Departments,
            &format!("{organization_id}/{id_or_name}"),
        )
    }
    pub fn get_department(&self, id: &str) -> Result<Option<Department>> {
        self.get(Table::Departments, id)
    }
    pub fn list_departments(&self) -> Result<Vec<Department>> {
        self.scan(Table::Departments)
    }

    pub fn create_profile(&self, profile: &Profile, audit: &AuditEvent) -> Result<()> {
        self.create_named(
            Table::Profiles,
            "profile",
            &profile.id,
            &profile.name,
            profile,
            audit,
        )
    }
    pub fn find_profile(&self, id_or_name: &str) -> Result<Option<Profile>> {
        self.find_named(Table::Profiles, id_or_name)
    }
    pub fn list_profiles(&self) -> Result<Vec<Profile>> {
        self.scan(Table::Profiles)
    }

    /// Creates an endpoint; its URI label is unique too.
    pub fn create_endpoint(&self, ep: &Endpoint, audit: &AuditEvent) -> Result<()> {
        let lk = name_key(Table::Endpoints, &format!("label:{}", ep.label));
        let nk = name_key(Table::Endpoints, &ep.name);
        self.transact(|tx| {
            if tx.get_raw(Table::Meta, nk.as_bytes())?.is_some() {
                return Err(reject(format!(
                    "endpoint named {:?} already exists",
                    ep.name
                )));
            }
            if tx.get_raw(Table::Meta, lk.as_bytes())?.is_some() {
                return Err(reject(format!(
                    "endpoint with label {:?} already exists",
                    ep.label
                )));
            }
            tx.insert_new(Table::Endpoints, &ep.id, ep)?;
            tx.put_raw(Table::Meta, nk.as_bytes(), ep.id.as_bytes())?;
            tx.put_raw(Table::Meta, lk.as_bytes(), ep.id.as_bytes())?;
            tx.audit(audit)?;
            Ok(())
        })
    }
    pub fn find_endpoint(&self, id_or_name: &str) -> Result<Option<Endpoint>> {
        self.find_named(Table::Endpoints, id_or_name)
    }
    pub fn find_endpoint_by_label(&self, label: &str) -> Result<Option<Endpoint>> {
        self.find_named(Table::Endpoints, &format!("label:{label}"))
    }
    pub fn list_endpoints(&self) -> Result<Vec<Endpoint>> {
        self.scan(Table::Endpoints)
    }

    pub fn create_account(&self, acct: &EndpointAccount, audit: &AuditEvent) -> Result<()> {
        self.create_named(
            Table::Accounts,
            "endpoint account",
            &acct.id,
            &acct.name,
            acct,
            audit,
        )
    }
    pub fn find_account(&self, id_or_name: &str) -> Result<Option<EndpointAccount>> {
        self.find_named(Table::Accounts, id_or_name)
    }
    pub fn list_accounts(&self) -> Result<Vec<EndpointAccount>> {
        self.scan(Table::Accounts)
    }

    /// Records a person unless one with this email exists; returns the stored one.
    pub fn ensure_person(&self, person: &Person) -> Result<Person> {
        let nk = name_key(Table::Persons, &person.email);
        self.transact(|tx| {
            if let Some(id) = tx.get_raw(Table::Meta, nk.as_bytes())? {
                let id = String::from_utf8_lossy(&id).into_owned();
                if let Some(p) = tx.get::<Person>(Table::Persons, &id)? {
                    return Ok(p);
                }
            }
            tx.insert_new(Table::Persons, &person.id, person)?;
            tx.put_raw(Table::Meta, nk.as_bytes(), person.id.as_bytes())?;
            Ok(person.clone())
        })
    }
    pub fn list_persons(&self) -> Result<Vec<Person>> {
        self.scan(Table::Persons)
    }
}
